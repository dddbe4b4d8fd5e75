#!/usr/bin/env bash
# The SD inpainting study at CPU scale (issue 30), the CPU twin of sd_gpu_run.sh: train the small
# SD-v1.4-layout model at 16 x 16 (core.diffusion.small_model.CPU_CONFIG), run the study
# (core.diffusion.study_config.CPU_STUDY) and put the shipped results in assets/. Every step resumes where an
# interrupted run stopped: rerun the same command.
#
#   bash benchmarks/sd_cpu_run.sh           # STEPS=3000: about 55 minutes of training, 45 of study, on 2 cores
#
# MAX_MINUTES (default 70) stops training checkpointed; the script then exits 3 and a rerun continues.
# THREADS (default 2) is torch's thread count. When a device is lent, sd_gpu_run.sh's larger study replaces
# the one this script ships.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
STEPS=${STEPS:-3000}
THREADS=${THREADS:-2}
python benchmarks/train_sd_small.py --out runs/sd-cpu --profile cpu --steps "$STEPS" --batch-size 32 --lr 5e-4 \
    --every 100 --threads "$THREADS" --max-minutes "${MAX_MINUTES:-70}"
python benchmarks/sd_experiment.py --model runs/sd-cpu/model --out runs/sd-cpu-study --profile cpu --device cpu \
    --threads "$THREADS" --label "CPU scale: 16 x 16 tiles, a 3.3 M-parameter model trained $STEPS steps on a CPU" \
    --export assets/sd_study
mkdir -p assets/sd_small_model
cp runs/sd-cpu/model/config.json runs/sd-cpu/model/model.safetensors runs/sd-cpu/model/MODEL_CARD.md \
   runs/sd-cpu/loss.csv assets/sd_small_model/
du -sh assets/sd_small_model assets/sd_study
