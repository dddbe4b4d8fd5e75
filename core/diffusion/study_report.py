"""A study's results folder: the per-set summary, its README table, and loading and exporting it.

The folder layout is described in :mod:`core.diffusion.study`, which writes it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from core.diffusion.study_config import StudyConfig
from core.errors import InputError

#: What the paper reports on SD v1.4 (average / best FID) per kind of set, shown for the ranking only.
PAPER = {"random": (22.13, 10.54), "es": (10.82, 10.29), "autobuild": (10.13, 9.96)}
FULL_SET, NOISE_SET = "Full network", "Noise floor"
INPUTS = "_inputs"


def summarize(results: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Per set: architectures, average and best FID, mean parameters and seconds per image."""
    grouped = results.groupby("set", sort=False)
    summary = grouped.agg(architectures=("fid", "size"), average_fid=("fid", "mean"), best_fid=("fid", "min"),
                          params=("params", "mean"), seconds_per_image=("seconds_per_image", "mean")).reset_index()
    order = {s: i for i, s in enumerate(list(config.set_labels().values()) + [FULL_SET])}
    return summary.sort_values("set", key=lambda s: s.map(order).fillna(99)).reset_index(drop=True)


def report_markdown(summary: pd.DataFrame, floor: dict, config: StudyConfig, size: int, label: str = "") -> str:
    paper = {config.set_labels()[kind]: values for kind, values in PAPER.items()}
    lines = ["# AutoBuild SD study on the small SD-v1.4-layout model (not Stable Diffusion v1.4)", "",
             *([f"**{label}**", ""] if label else []),
             "| set | architectures | average FID | best FID | mean params | ms / image | paper (SD v1.4) avg / best |",
             "|---|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        reported = paper.get(r.set)
        lines.append(f"| {r.set} | {r.architectures} | {r.average_fid:.2f} | {r.best_fid:.2f} | {r.params:,.0f} | "
                     f"{r.seconds_per_image * 1000:.1f} | " + (f"{reported[0]} / {reported[1]}" if reported else "") + " |")
    seed_noise = floor["seed noise (largest FID change from the seed alone)"]
    lines += ["", f"Seconds per image: DDIM with {config.steps} steps on {config.device}. Noise floor: the seed alone moves an FID by up to {seed_noise:.2f}; gaps smaller than that are "
              "not differences. The paper's column is for the ranking only: these FIDs are on {size} x {size} tiles "
              f"of a small model and are not comparable with SD v1.4's.", ""]
    return "\n".join(lines)


def load_study(folder: str | Path) -> dict | None:
    """A finished study folder's tables (``results``, ``summary``, ``noise_floor``, ``study``), or None."""
    folder = Path(folder)
    needed = ("results.csv", "summary.csv", "noise_floor.json", "study.json")
    if not all((folder / n).is_file() for n in needed):
        return None
    try:
        return {"folder": folder, "results": pd.read_csv(folder / "results.csv"),
                "summary": pd.read_csv(folder / "summary.csv"),
                "noise_floor": json.loads((folder / "noise_floor.json").read_text()),
                "study": json.loads((folder / "study.json").read_text())}
    except (json.JSONDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"study folder {folder} is damaged: {err}") from None


def export_study(src: str | Path, dst: str | Path, images: int = 12) -> Path:
    """Copy a finished study into ``dst`` for shipping: its tables, and per folder the first ``images``
    images (by name) with ``arch.json``/``fid.json``; no features, no predictor run (a few MB in all)."""
    import shutil

    src, dst = Path(src), Path(dst)
    if load_study(src) is None:
        raise InputError(f"{src} is not a finished study (results.csv, summary.csv, noise_floor.json, study.json)")
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("results.csv", "summary.csv", "noise_floor.json", "study.json", "README.md"):
        shutil.copy2(src / name, dst / name)
    stems = sorted(p.stem for p in (src / INPUTS / "originals").glob("*.png"))[:images]
    folders = [INPUTS + "/originals", INPUTS + "/masks"] + sorted(
        p.name for p in src.iterdir() if p.is_dir() and (p / "arch.json").is_file())
    for folder in folders:
        (dst / folder).mkdir(parents=True, exist_ok=True)
        for stem in stems:
            shutil.copy2(src / folder / f"{stem}.png", dst / folder / f"{stem}.png")
        for meta in ("arch.json", "fid.json"):
            if (src / folder / meta).is_file():
                shutil.copy2(src / folder / meta, dst / folder / meta)
    shutil.copy2(src / INPUTS / "SOURCES.txt", dst / INPUTS / "SOURCES.txt")
    return dst
