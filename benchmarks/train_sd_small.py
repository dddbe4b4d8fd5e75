"""Train the small SD-v1.4-layout inpainting model (core.diffusion.small_train); resumable, GPU when available.

    PYTHONPATH=. python benchmarks/train_sd_small.py --out runs/sd-small            # full run (GPU: minutes)
    PYTHONPATH=. python benchmarks/train_sd_small.py --out runs/sd-cpu --profile cpu --max-minutes 60  # 16 x 16, CPU
    PYTHONPATH=. python benchmarks/train_sd_small.py --out /tmp/toy --profile toy --steps 50  # toy size on a CPU

Rerunning with the same --out resumes from its checkpoint. Prints the loss every --every steps and the
seconds per step, so a GPU run's length can be judged from its first lines.
"""
from __future__ import annotations

import argparse
import time

import torch

from core.diffusion.small_model import CPU_CONFIG, TOY_CONFIG, SmallModelConfig
from core.diffusion.small_train import (
    SmallTrainConfig,
    default_device,
    train_small_model,
)

PROFILES = {"gpu": SmallModelConfig(), "cpu": CPU_CONFIG, "toy": TOY_CONFIG}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=SmallTrainConfig.steps)
    parser.add_argument("--batch-size", type=int, default=SmallTrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=SmallTrainConfig.lr)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="gpu",
                        help="gpu: 32 x 32 (default); cpu: the same widths at 16 x 16; toy: 16 x 16, widths 8-16")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--tile-bank", type=int, default=SmallTrainConfig.tile_bank,
                        help="training tiles cut once at the start (default %(default)s)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop (checkpointed) after this many minutes; rerun to resume")
    parser.add_argument("--every", type=int, default=100, help="print the loss every N steps")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_config = PROFILES[args.profile]
    config = SmallTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                              model=model_config, checkpoint_every=min(1000, args.steps),
                              tile_bank=args.tile_bank)
    start = time.perf_counter()
    window: list[float] = []

    def report(step: int, total: int, loss: float) -> None:
        window.append(loss)
        if step % args.every == 0 or step == total:
            print(f"step {step}/{total}  loss {sum(window) / len(window):.4f}  "
                  f"{time.perf_counter() - start:.0f} s elapsed",
                  flush=True)
            window.clear()

    model = train_small_model(args.out, config, args.device or default_device(), report,
                              None if args.max_minutes is None else args.max_minutes * 60)
    if model is None:
        print(f"stopped after --max-minutes {args.max_minutes}; rerun the same command to resume")
        raise SystemExit(3)
    print(f"done: {args.out}/model (float16) in {time.perf_counter() - start:.0f} s on {args.device or default_device()}")


if __name__ == "__main__":
    main()
