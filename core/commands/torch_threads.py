"""The ``--threads`` option of the commands that train predictors (train, benchmark, search).

Architecture graphs are tiny: extra intra-op threads cost more in synchronisation than they win
(3,000 NAS-Bench-201 cells x 200 epochs, GATv2: 60 s with 1 thread, 78 s with 2 on a 2-core CPU), so
the default is 1; run several processes to use more cores.
"""
from __future__ import annotations

import argparse

from core.errors import InputError


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1, fastest for these small graphs; run several processes "
                             "instead)")


def apply(args: argparse.Namespace) -> None:
    """Check ``args.threads`` (a one-line error below 1) and set torch's thread count."""
    if args.threads < 1:
        raise InputError(f"--threads must be at least 1, not {args.threads}")
    import torch  # here, not at the top: --help and argument errors must not wait for torch

    torch.set_num_threads(args.threads)
