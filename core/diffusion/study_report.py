"""A study's results folder: the per-set summary, its README table, and loading and exporting it.

The folder layout is described in :mod:`core.diffusion.study`, which writes it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from core.diffusion.study_config import StudyConfig
from core.errors import InputError

#: What the paper reports on SD v1.4 (average / best FID) per kind of set, shown for the ranking only.
PAPER = {"random": (22.13, 10.54), "es": (10.82, 10.29), "autobuild": (10.13, 9.96)}
FULL_SET, NOISE_SET = "Full network", "Noise floor"
INPUTS = "_inputs"
CONCLUSION = "conclusion.json"


def summarize(results: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Per set: architectures, average and best FID, average KID and its standard error over the set's
    architectures (when the study has KID), mean parameters and seconds per image, the paper's average FID."""
    grouped = results.groupby("set", sort=False)
    kid = {"average_kid": ("kid", "mean"), "kid_sem": ("kid", "sem")} if "kid" in results.columns else {}
    summary = grouped.agg(architectures=("fid", "size"), average_fid=("fid", "mean"), best_fid=("fid", "min"),
                          **kid, params=("params", "mean"),
                          seconds_per_image=("seconds_per_image", "mean")).reset_index()
    paper = {config.set_labels()[kind]: values[0] for kind, values in PAPER.items()}
    summary["paper_average_fid"] = summary["set"].map(paper)
    order = {s: i for i, s in enumerate(list(config.set_labels().values()) + [FULL_SET])}
    return summary.sort_values("set", key=lambda s: s.map(order).fillna(99)).reset_index(drop=True)


def _subset_share(pool: np.ndarray, k: int, value: float, draws: int, rng: np.random.Generator) -> float:
    """The share of ``draws`` random k-subsets of ``pool`` whose mean is at most ``value`` (lower is better)."""
    means = np.array([pool[rng.choice(len(pool), k, replace=False)].mean() for _ in range(draws)])
    return float((means <= value).mean())


def conclude(results: pd.DataFrame, floor: dict, config: StudyConfig, draws: int = 10_000) -> dict:
    """Do AutoBuild's picks beat random architectures at equal count? (FID and KID, lower is better.)

    Two comparisons: (1) against the random set: the share of ``draws`` random draws of as many architectures
    from it whose average is as low as AutoBuild's (a one-sided resampling p-value); (2) against the random
    architectures that remove as many blocks as the picks: the difference of the averages with its standard
    error. "Beats" needs p < 0.05 on both metrics; p > 0.95 on both is "worse"; otherwise no evidence. The
    size-matched comparison (``size_matched``: better, worse, or no difference when the FID gap is within two
    standard errors) is said beside the verdict: picks that only beat random ones by removing fewer blocks
    say so."""
    labels = config.set_labels()
    sets = {kind: results[results["set"] == labels[kind]] for kind in labels}
    ab, k = sets["autobuild"], len(sets["autobuild"])
    rng = np.random.default_rng(config.seed)
    out: dict = {"picks": k, "random_pool": len(sets["random"]), "draws": draws,
                 "seed_noise_fid": floor["seed noise (largest FID change from the seed alone)"]}
    metrics = [m for m in ("fid", "kid") if m in results.columns]
    for metric in metrics:
        pool, mine, matched = sets["random"][metric].to_numpy(), ab[metric].to_numpy(), sets["matched_random"][metric]
        entry = {"autobuild": float(mine.mean()), "es": float(sets["es"][metric].mean()),
                 "random": float(pool.mean()),
                 "p_random_as_good": _subset_share(pool, k, float(mine.mean()), draws, rng) if k <= len(pool) else None}
        if len(matched):
            spread = np.sqrt(ab[metric].var(ddof=1) / k + matched.var(ddof=1) / len(matched)) if k > 1 and len(matched) > 1 else None
            entry.update(matched=float(matched.mean()), matched_count=len(matched),
                         difference=float(mine.mean() - matched.mean()),
                         difference_se=None if spread is None or np.isnan(spread) else float(spread))
        out[metric] = entry
    ps = [out[m]["p_random_as_good"] for m in metrics]
    if any(p is None for p in ps):
        out["verdict"] = "too few random architectures to compare"
    elif all(p < 0.05 for p in ps):
        out["verdict"] = "beats random"
    elif all(p > 0.95 for p in ps):
        out["verdict"] = "worse than random"
    else:
        out["verdict"] = "no evidence either way"
    fid = out["fid"]
    # Against architectures of the picks' own size: a gap within two standard errors is no difference.
    if fid.get("difference_se") is not None:
        beyond = abs(fid["difference"]) > 2 * fid["difference_se"]
        out["size_matched"] = ("better" if fid["difference"] < 0 else "worse") if beyond else "no difference"
    out["sentence"] = conclusion_sentence(out)
    return out


def conclusion_sentence(c: dict) -> str:
    """The study's answer in plain words, with the figures it rests on."""
    fid = c["fid"]
    parts = [(f"AutoBuild's {c['picks']} picks average FID {fid['autobuild']:.2f}, against {fid['random']:.2f} "
              f"for the {c['random_pool']} random architectures")]
    if fid["p_random_as_good"] is not None:
        parts.append(f"{fid['p_random_as_good']:.1%} of {c['draws']:,} random draws of {c['picks']} from them "
                     "average as low an FID")
    if "kid" in c and c["kid"]["p_random_as_good"] is not None:
        parts.append(f"{c['kid']['p_random_as_good']:.1%} as low a KID ({c['kid']['autobuild']:.4f} against "
                     f"{c['kid']['random']:.4f})")
    if "matched" in fid:
        se = "" if fid.get("difference_se") is None else f" ± {fid['difference_se']:.2f}"
        parts.append(f"random architectures removing as many blocks average {fid['matched']:.2f} "
                     f"(difference {fid['difference']:+.2f}{se})")
    parts.append(f"exhaustive search's picks average {fid['es']:.2f}; the seed alone moves an FID by up to "
                 f"{c['seed_noise_fid']:.2f}")
    verdict = {"beats random": "AutoBuild's selections beat random ones at equal count",
               "worse than random": "AutoBuild's selections do worse than random ones at equal count",
               "no evidence either way": "at this scale the study cannot tell AutoBuild's selections from random "
                                         "ones at equal count"}.get(c["verdict"], c["verdict"])
    text = f"{verdict[0].upper()}{verdict[1:]}: " + "; ".join(parts) + "."
    if c.get("size_matched") == "no difference" and c["verdict"] == "beats random":
        text += (" Against random architectures that remove as many blocks the picks make no difference, so at "
                 "this scale their advantage is that they remove few blocks.")
    elif c.get("size_matched") in ("better", "worse"):
        text += f" They also do {c['size_matched']} than random architectures removing as many blocks."
    return text


def report_markdown(summary: pd.DataFrame, floor: dict, config: StudyConfig, size: int, label: str = "",
                    conclusion: dict | None = None) -> str:
    paper = {config.set_labels()[kind]: values for kind, values in PAPER.items()}
    has_kid = "average_kid" in summary.columns
    lines = ["# AutoBuild SD study on the small SD-v1.4-layout model (not Stable Diffusion v1.4)", "",
             *([f"**{label}**", ""] if label else []),
             "| set | architectures | average FID | best FID |" + (" average KID ± s.e. |" if has_kid else "")
             + " mean params | ms / image | paper (SD v1.4) avg / best |",
             "|---|---|---|---|" + ("---|" if has_kid else "") + "---|---|---|"]
    for r in summary.itertuples():
        reported = paper.get(r.set)
        kid = ""
        if has_kid:
            kid = f" {r.average_kid:.4f}" + ("" if pd.isna(r.kid_sem) else f" ± {r.kid_sem:.4f}") + " |"
        lines.append(f"| {r.set} | {r.architectures} | {r.average_fid:.2f} | {r.best_fid:.2f} |{kid} {r.params:,.0f} | "
                     f"{r.seconds_per_image * 1000:.1f} | " + (f"{reported[0]} / {reported[1]}" if reported else "") + " |")
    seed_noise = floor["seed noise (largest FID change from the seed alone)"]
    lines += ["", (f"Seconds per image: DDIM with {config.steps} steps on {config.device}. Noise floor: the seed alone "
              f"moves an FID by up to {seed_noise:.2f}; gaps smaller than that are not differences. KID: mean over "
              f"{config.kid_subsets} subsets of half the images, its standard error over the set's architectures. "
              f"The paper's column is for the ranking only: these FIDs are on {size} x {size} tiles of a small "
              "model and are not comparable with SD v1.4's."), ""]
    if conclusion:
        lines += ["## Conclusion", "", conclusion["sentence"], ""]
    return "\n".join(lines)


def load_study(folder: str | Path) -> dict | None:
    """A finished study folder's tables (``results``, ``summary``, ``noise_floor``, ``study``, and
    ``conclusion`` when the study wrote one, else None), or None when the folder holds no finished study."""
    folder = Path(folder)
    needed = ("results.csv", "summary.csv", "noise_floor.json", "study.json")
    if not all((folder / n).is_file() for n in needed):
        return None
    try:
        return {"folder": folder, "results": pd.read_csv(folder / "results.csv"),
                "summary": pd.read_csv(folder / "summary.csv"),
                "noise_floor": json.loads((folder / "noise_floor.json").read_text()),
                "study": json.loads((folder / "study.json").read_text()),
                "conclusion": json.loads((folder / CONCLUSION).read_text()) if (folder / CONCLUSION).is_file() else None}
    except (json.JSONDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"study folder {folder} is damaged: {err}") from None


def export_study(src: str | Path, dst: str | Path, images: int = 16) -> Path:
    """Copy a finished study into ``dst`` for shipping: its tables, and per folder ``images`` images (taken
    from every photograph in turn, so each one is shown) with ``arch.json``/``fid.json``; no features, no
    predictor run (a few MB in all)."""
    import shutil

    src, dst = Path(src), Path(dst)
    if load_study(src) is None:
        raise InputError(f"{src} is not a finished study (results.csv, summary.csv, noise_floor.json, study.json)")
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("results.csv", "summary.csv", "noise_floor.json", "study.json", "README.md", CONCLUSION):
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    stems = _spread_stems([p.stem for p in (src / INPUTS / "originals").glob("*.png")], images)
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


def _spread_stems(stems: list[str], count: int) -> list[str]:
    """``count`` of the evaluation stems (``<photo>_<k>``), k = 0 of every photograph first, then k = 1, ..."""
    def key(stem: str) -> tuple[int, str]:
        photo, _, k = stem.rpartition("_")
        return (int(k), photo) if k.isdigit() else (0, stem)

    return sorted(stems, key=key)[:count]
