#!/usr/bin/env bash
# Issue 14, what remains to run on a GPU: train the small SD-v1.4-layout inpainting model, run the study,
# and put the shipped outputs in assets/. Every step resumes where an interrupted run stopped (rerun as is).
#
#   bash benchmarks/sd_gpu_run.sh            # STEPS=20000 by default; STEPS=5000 bash ... for a shorter run
#
# Then commit assets/sd_small_model (float16 weights, config, model card, loss.csv) and assets/sd_study.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
STEPS=${STEPS:-20000}
python benchmarks/train_sd_small.py --out runs/sd-small --steps "$STEPS" --device cuda --every 500
python benchmarks/sd_experiment.py --model runs/sd-small/model --out runs/sd-study --device cuda --export assets/sd_study
mkdir -p assets/sd_small_model
cp runs/sd-small/model/config.json runs/sd-small/model/model.safetensors runs/sd-small/model/MODEL_CARD.md \
   runs/sd-small/loss.csv assets/sd_small_model/
du -sh assets/sd_small_model assets/sd_study
