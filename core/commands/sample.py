"""``python -m core sample``: a table of N distinct random architectures, looked up or measured.

Benchmark spaces (nasbench-graph, nasbench201) look the architectures up in their shipped metrics.
A space without shipped metrics (e.g. ``sd-unet``, whose FID is measured later) gets a table of specs
only: one ``arch`` column, to be evaluated by ``python -m core inpaint``/``fid`` or a campaign.
Spaces that can build real networks (``ofa-mbv3``, ``ofa-pn``: their ``measures`` is not empty) build
each sampled architecture with ``--measure latency`` and time it on this machine instead; the table
then holds ``latency_ms`` (median wall time), ``cpu_ms`` (median CPU time, steadier on a busy
machine), ``params_m``, ``flops_m``, ``threads`` and ``device`` per architecture.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from core.commands import arg_types
from core.errors import InputError
from core.files.table_io import check_output_table, write_table
from core.spaces import get_space, space_names
from core.tables.sampling import sample_benchmark

HELP = "write a table of N distinct random architectures with shipped metrics or measured latency"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="search space name, e.g. nasbench-graph, nasbench201, ofa-mbv3")
    parser.add_argument("--dataset", default=None, help="benchmark dataset (default: the space's first)")
    parser.add_argument("--n", type=int, required=True, help="number of distinct architectures")
    parser.add_argument("--seed", type=arg_types.seed, default=0)
    parser.add_argument("--out", required=True, help="output table (.csv, .parquet or .jsonl)")
    measure = parser.add_argument_group("measuring (spaces that build real networks, e.g. ofa-mbv3, ofa-pn)")
    measure.add_argument("--measure", default=None, metavar="WHAT",
                         help="build and measure each architecture instead of looking it up: latency")
    measure.add_argument("--device", default="cpu", help="device to time on: cpu (default) or cuda")
    measure.add_argument("--threads", type=int, default=1,
                         help="torch threads, pinned while timing and recorded in the table (default 1)")
    measure.add_argument("--warmup", type=int, default=5, help="untimed runs before timing (default 5)")
    measure.add_argument("--repeats", type=int, default=20, help="timed runs; the median is kept (default 20)")


def run(args: argparse.Namespace) -> int:
    check_output_table(args.out)  # before sampling or measuring
    space = get_space(args.space)
    if args.n < 1:
        raise InputError(f"--n must be positive, not {args.n}")
    if args.measure is not None:
        return _measured(space, args)
    if not space.has_lookup:
        return _specs_only(space, args)
    dataset = space.resolve_dataset(args.dataset)
    sample = sample_benchmark(args.space, dataset, args.n, args.seed)  # the dashboard's sampler too
    write_table(sample, args.out)
    print(f"wrote {len(sample)} architectures of {args.space}/{dataset} (seed {args.seed}) to {args.out}")
    return 0


def _specs_only(space, args: argparse.Namespace) -> int:
    """A space with no shipped metrics: ``--n`` distinct random specs, one ``arch`` column, no metric columns."""
    if args.dataset is not None:
        raise InputError(f"space {args.space!r} ships no benchmark datasets, so --dataset does not apply")
    specs = space.sample_distinct(args.n, np.random.default_rng(args.seed))
    write_table(pd.DataFrame({"arch": specs}), args.out)
    hint = " (add --measure latency to build and time them instead)" if space.can_measure else ""
    print(f"wrote {len(specs)} distinct architectures of {args.space} (seed {args.seed}, no metrics){hint} "
          f"to {args.out}")
    return 0


def _measured(space, args: argparse.Namespace) -> int:
    """Sample, build and measure ``--n`` architectures; the table is written only when all are done."""
    if not space.can_measure:
        able = [name for name in space_names() if get_space(name).can_measure]
        raise InputError(f"space {args.space!r} cannot build networks to measure; --measure works for {able}")
    if args.dataset is not None:
        raise InputError("--dataset names a shipped benchmark; it does not go with --measure")
    specs = space.sample_distinct(args.n, np.random.default_rng(args.seed))
    rows = []
    start = time.perf_counter()
    for i, spec in enumerate(specs, start=1):
        rows.append({"arch": spec, **space.measure(spec, args.measure, device=args.device, threads=args.threads,
                                              warmup=args.warmup, repeats=args.repeats)})
        if i % max(1, args.n // 20) == 0 or i == args.n:
            elapsed = time.perf_counter() - start
            sys.stderr.write(f"measured {i}/{args.n} ({elapsed:.0f} s, about {elapsed / i * (args.n - i):.0f} s left)\n")
    write_table(pd.DataFrame(rows), args.out)
    print(f"measured {len(rows)} architectures of {args.space} (seed {args.seed}, {args.measure} on {args.device}, "
          f"{args.threads} threads) in {time.perf_counter() - start:.0f} s; wrote {args.out}")
    return 0
