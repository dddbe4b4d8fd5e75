"""AutoBuild's SD study on the small SD-v1.4-layout inpainting model (core.diffusion.study): the paper's table.

GPU run (after benchmarks/train_sd_small.py has written runs/sd-small/model):

    PYTHONPATH=. python benchmarks/sd_experiment.py --model runs/sd-small/model --out runs/sd-study --device cuda

CPU scale (after ``train_sd_small.py --profile cpu``; benchmarks/sd_cpu_run.sh runs both):

    PYTHONPATH=. python benchmarks/sd_experiment.py --model runs/sd-cpu/model --out runs/sd-cpu-study --profile cpu

Toy size on a CPU (random-weight toy model, 10 + 3 architectures, 8 images: a plumbing check, not a result):

    PYTHONPATH=. python benchmarks/sd_experiment.py --toy --out /tmp/sd-study-toy

Rerunning with the same --out resumes (finished architectures are read back). Prints the summary table
(average / best FID per set, mean parameters, ms per image) and the noise floor; README.md in --out holds both.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path

import pandas as pd
import torch

from core.diffusion.small_model import TOY_CONFIG, SmallInpaintModel, load_model
from core.diffusion.small_train import CARD
from core.diffusion.study import run_study
from core.diffusion.study_config import CPU_STUDY, TOY_STUDY, StudyConfig
from core.diffusion.study_report import CONCLUSION, export_study, report_markdown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="folder of a trained small model (config.json + model.safetensors)")
    source.add_argument("--toy", action="store_true", help="toy size: random-weight toy model, tiny settings")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--profile", choices=("gpu", "cpu"), default="gpu",
                        help="gpu: the paper's sizes (68 random, 256 tiles, 25 steps); cpu: core.diffusion."
                             "study_config.CPU_STUDY (36 random, 128 tiles, 10 steps)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--n-random", type=int, default=None)
    parser.add_argument("--tiles-per-photo", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default="", help="what this study is, shown with it (e.g. 'toy model, CPU')")
    parser.add_argument("--n-pick", type=int, default=None)
    parser.add_argument("--exhaustive-pool", type=int, default=None,
                        help="ES scores this many random specs instead of all 884,736 (to fit a time budget)")
    parser.add_argument("--export", default=None, metavar="DIR",
                        help="also copy the finished study, 16 images per architecture, to DIR (e.g. assets/sd_study)")
    args = parser.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    base = TOY_STUDY if args.toy else CPU_STUDY if args.profile == "cpu" else StudyConfig()
    overrides = {k: v for k, v in (("n_random", args.n_random), ("tiles_per_photo", args.tiles_per_photo),
                                   ("steps", args.steps), ("n_pick", args.n_pick), ("exhaustive_pool", args.exhaustive_pool))
                 if v is not None}
    config = dataclasses.replace(base, seed=args.seed, device=device, **overrides)
    if args.toy:
        torch.manual_seed(args.seed)
        model = SmallInpaintModel(TOY_CONFIG).eval().to(device)
    else:
        model = load_model(args.model, device)
    start = time.perf_counter()
    summary = run_study(model, args.out, config, label=args.label)
    floor = json.loads((Path(args.out) / "noise_floor.json").read_text())
    conclusion = json.loads((Path(args.out) / CONCLUSION).read_text())
    print(report_markdown(summary, floor, config, model.config.image_size, args.label, conclusion))
    if args.model:
        full = pd.read_csv(Path(args.out) / "results.csv").set_index("name").loc["full", "fid"]
        card = Path(args.model) / CARD
        if card.is_file():
            n = len(list((Path(args.out) / "_inputs" / "originals").glob("*.png")))
            line = (f"FID of the full network: {full:.2f} ({n} held-out {model.config.image_size}-pixel tiles, "
                    f"DDIM {config.steps} steps, seed {config.seed}; the study's README.md has the rest)")
            text = re.sub(r"FID of the full network: .*", line, card.read_text())
            card.write_text(text)
    if args.export:
        print(f"exported to {export_study(args.out, args.export)}")
    print(f"study written to {args.out} in {time.perf_counter() - start:.0f} s on {device}")


if __name__ == "__main__":
    main()
