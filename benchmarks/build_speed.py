"""Scoring and building speed: where the seconds of `python -m core build` go (docs/design.md, section 6).

    python benchmarks/build_speed.py [--threads 1]

Times, in one process, each stage of what `build --top 4` does on NAS-Bench-Graph cora: imports,
loading the run, turning the 26,206 specs into graphs, encoding them, scoring every node of the
whole space, predicting every architecture, and the build itself (first a cold build that pools and
encodes the space, then a warm one that reuses the pool, as the dashboard does). Then it scores all
36,855 MobileNetV3 (ofa-mbv3) unit candidates at every hop. The run is trained here first (200 cora
architectures, 20 epochs; its quality does not matter for speed, its shape does). Prints every
stage and the whole process; the whole `build` command is timed from outside (e.g. /usr/bin/time
python -m core build --run RUN --top 4).
"""
from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.building import pool as cell_pool  # noqa: E402
from core.building.builder import build_architectures  # noqa: E402
from core.building.config import BuildConfig  # noqa: E402
from core.building.units import root_scores  # noqa: E402
from core.gc_pause import cycle_collector_paused  # noqa: E402
from core.predictor import PredictorConfig, TrainConfig  # noqa: E402
from core.predictor.batching import EncodedGraphs  # noqa: E402
from core.predictor.model import AutoBuildPredictor  # noqa: E402
from core.runs.config import RunConfig  # noqa: E402
from core.runs.run import Run  # noqa: E402
from core.scoring.modules import node_scores  # noqa: E402
from core.spaces import get_space  # noqa: E402
from core.tables.validated import load_table  # noqa: E402
from core.workflow import train_from_table  # noqa: E402

IMPORTS = time.perf_counter() - START


def timed(stages: dict[str, float], name: str, work):
    started = time.perf_counter()
    value = work()
    stages[name] = time.perf_counter() - started
    return value


def untrained_run(space_name: str) -> Run:
    """A run with the default predictor's shape and random weights: scoring costs the same."""
    space = get_space(space_name)
    config = PredictorConfig()
    model = AutoBuildPredictor(space.schema(), config).eval()
    moments = tuple((0.0, 1.0) for _ in range(config.layers + 1))
    run_config = RunConfig(space=space_name, dataset=None, target="flops_m", target_columns=("flops_m",),
                           target_mean=0.0, target_std=1.0, hop_moments=moments, seed=0)
    return Run(Path("<memory>"), run_config, model, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    stages: dict[str, float] = {"imports": IMPORTS}
    space = get_space("nasbench-graph")
    with tempfile.TemporaryDirectory() as tmp:
        table = space.metrics_table("cora").sample(200, random_state=0)
        table.to_csv(Path(tmp) / "cora.csv", index=False)
        loaded = load_table(Path(tmp) / "cora.csv", "nasbench-graph")
        timed(stages, "training (setup, not build)", lambda: train_from_table(
            loaded, "valid_perf", Path(tmp) / "run", dataset="cora",
            train_config=TrainConfig(epochs=20, min_steps=0, seed=0)))
        run = timed(stages, "load run", lambda: Run.load(Path(tmp) / "run"))
        specs = timed(stages, "enumerate space", lambda: list(space.enumerate()))
        with cycle_collector_paused():  # as the build's cell pool makes them
            graphs = timed(stages, "specs -> graphs", lambda: [space.to_graph(s) for s in specs])
        store = timed(stages, "encoding", lambda: EncodedGraphs(graphs, run.schema))
        timed(stages, "score all nodes", lambda: node_scores(run, store))
        timed(stages, "predict all", lambda: run.predict(store))
        cell_pool._enumerated_pool.cache_clear()
        built = timed(stages, "build --top 4 (cold)", lambda: build_architectures(run, BuildConfig(top=4)))
        timed(stages, "build --top 4 (warm)", lambda: build_architectures(run, BuildConfig(top=4)))
    mbv3 = get_space("ofa-mbv3")
    mbv3_run = untrained_run("ofa-mbv3")
    candidates = timed(stages, "mbv3 candidates", lambda: [c for u in mbv3.units() for c in mbv3.unit_candidates(u)])
    timed(stages, "mbv3 candidates scored", lambda: root_scores(mbv3_run, candidates))

    total = time.perf_counter() - START
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"build_speed: nasbench-graph/cora ({len(specs):,} architectures), ofa-mbv3 ({len(candidates):,} unit "
          f"candidates), cpu ({torch.get_num_threads()} threads)")
    for name, seconds in stages.items():
        print(f"  {name:28s} {seconds:7.2f} s")
    print(f"  whole process {total:.1f} s, peak RSS {peak_mb:.0f} MB")
    print(f"  check: built {', '.join(built.built['arch'].head(2))}, ...")


if __name__ == "__main__":
    main()
