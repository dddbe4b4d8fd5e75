"""``python -m core inpaint``: inpaint a folder of images with several ``sd-unet`` architectures.

Runs a local diffusers ``StableDiffusionInpaintPipeline`` (``local_files_only``, never downloads) once per
architecture on identical images, masks, prompts and per-image noise; see :mod:`core.diffusion.pipeline` for
the output layout. ``--make-sample DIR`` writes the bundled real photographs and their masks instead.
"""
from __future__ import annotations

import argparse
import sys

from core.commands import arg_types
from core.errors import InputError

HELP = "inpaint images with SD v1.x U-Net architectures from a local diffusers model directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", help="local diffusers inpainting pipeline folder (model_index.json, unet/, ...)")
    parser.add_argument("--arch", action="append", default=[], metavar="SPEC|TABLE",
                        help="an sd-unet spec (JSON), 'full', or a table (.csv/.parquet/.jsonl) with an 'arch' "
                             "column and optional 'name' and 'set' columns; repeatable")
    parser.add_argument("--images", help="folder of images to inpaint")
    parser.add_argument("--masks", help="folder of masks, same file stems as the images (white = repaint)")
    parser.add_argument("--prompts", default=None, help="CSV with columns image,prompt (default: empty prompts)")
    parser.add_argument("--steps", type=int, default=50, help="denoising steps (default 50)")
    parser.add_argument("--seed", type=arg_types.seed, default=0, help="run seed; each image's noise depends on it and its name")
    parser.add_argument("--size", type=int, default=None,
                        help="square working size, a multiple of 64 (default: the model's native size, U-Net "
                             "sample_size x VAE scale factor: 512 for SD v1.x; --make-sample: 512)")
    parser.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (default 7.5)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--dtype", default=None, help="float16/bfloat16/float32 (default: float16 on cuda)")
    parser.add_argument("--out", help="output folder: one subfolder per architecture, plus _inputs/ and manifest.csv")
    parser.add_argument("--make-sample", metavar="DIR", default=None,
                        help="write the bundled real photographs to DIR/originals and masks to DIR/masks, then exit")
    parser.add_argument("--crops", type=int, default=1, help="with --make-sample: crops per photograph (default 1)")


def parse_architectures(values: list[str]) -> list:
    """``--arch`` values: JSON specs, ``full``, or tables of specs (a list of ``Architecture``)."""
    from core.diffusion.gallery import parse_architectures as parse_architecture_values

    return parse_architecture_values(values, "--arch")


def run(args: argparse.Namespace) -> int:
    if args.make_sample:
        from core.diffusion.sample_images import write_sample_set

        out = write_sample_set(args.make_sample, size=args.size or 512, crops_per_photo=args.crops, seed=args.seed)
        print(f"wrote real photographs to {out / 'originals'} and masks to {out / 'masks'} (credits: SOURCES.txt)")
        return 0
    from core.diffusion.pipeline import check_model_dir, load_pipeline, native_size, run_inpainting
    from core.diffusion.inpaint_inputs import load_inputs, read_prompts

    missing = [flag for flag, value in (("--model-dir", args.model_dir), ("--arch", args.arch),
                                        ("--images", args.images), ("--masks", args.masks), ("--out", args.out))
               if not value]
    if missing:
        raise InputError(f"inpaint needs {', '.join(missing)} (or --make-sample DIR)")
    model_dir = check_model_dir(args.model_dir)
    size = args.size or native_size(model_dir)
    archs = parse_architectures(args.arch)
    inputs = load_inputs(args.images, args.masks, size, read_prompts(args.prompts))
    print(f"{len(archs)} architecture(s) x {len(inputs)} image(s), {args.steps} steps, seed {args.seed}, "
          f"{size}x{size}{'' if args.size else ' (the model native size)'}; loading {model_dir}")
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()  # the CLI reports its own progress on stderr
    pipe = load_pipeline(model_dir, args.device, args.dtype)

    def progress(done: int, total: int, message: str) -> None:
        sys.stderr.write(f"\r[{done}/{total}] {message}".ljust(60))
        if done == total:
            sys.stderr.write("\n")

    manifest = run_inpainting(pipe, archs, inputs, args.out, steps=args.steps, seed=args.seed,
                              guidance_scale=args.guidance, progress=progress, model_dir=str(model_dir))
    flagged = int(manifest["nsfw_flagged"].sum()) if len(manifest) else 0
    if flagged:
        print(f"note: the model's safety checker blanked {flagged} output(s); they will distort FID")
    print(f"wrote {len(archs) * len(inputs)} images to {args.out} (one folder per architecture, manifest.csv)")
    return 0
