"""AutoBuild's Stable Diffusion study (Mills et al., CVPR 2024, Table "SD v1.4"), run on the small model.

Steps (each one resumable: an architecture whose ``fid.json`` exists is not generated again):

1. ``n_random`` (68) distinct random ``sd-unet`` architectures, set "Random 68";
2. each architecture inpaints the evaluation tiles (held-out strips of the bundled photographs, masks of
   :func:`core.diffusion.sample_images.make_mask`) from the same per-image noise; FID against the originals
   (Inception features of the reference cached in ``_inputs/reference_features.npz``);
3. AutoBuild's predictor is trained on the 68 with target ``-fid`` (lower FID = better), then
   - "AutoBuild 4": :func:`core.building.builder.build_architectures` (top ``n_pick``),
   - "ES 4" (exhaustive search): the regression head's top ``n_pick`` over the whole space (or over
     ``exhaustive_pool`` random specs), the 68 excluded,
   - "Random, as many blocks removed": ``matched_per_pick`` random architectures per AutoBuild pick, each
     removing exactly as many blocks as that pick (:meth:`SdUnetSpace.sample_removing`), so that a pick is
     compared with random architectures of its size;
4. the noise floor: the full network and the first random architecture each under a second seed, and the
   FID between the full network's two seed runs;
5. ``results.csv`` (one row per architecture: name, set, arch, removed blocks, fid, kid, kid_std, params,
   seconds per image), ``summary.csv`` (per set: count, average and best FID, average KID, mean params, mean
   seconds per image, the paper's average FID), ``noise_floor.json``, ``conclusion.json`` (do AutoBuild's
   picks beat random ones at equal count, :func:`core.diffusion.study_report.conclude`), ``study.json``
   (settings and protocol) and ``README.md`` (the tables and the conclusion).

FID is the paper's metric; KID (:mod:`core.diffusion.kid`) is unbiased at these sample sizes and comes with
a spread over image subsets, so differences can be read against noise.

Output layout is that of ``python -m core inpaint`` (``_inputs/originals``, ``_inputs/masks``,
``<name>/<stem>.png``, ``<name>/arch.json``, ``<name>/fid.json``), so the Inpainting page shows it.
The small model is not Stable Diffusion v1.4: compare rankings and the ES-vs-AutoBuild gap, never the
FID values, with the paper's.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from core.diffusion.fid import FIDResult, frechet_distance, write_fid_record
from core.diffusion.inception import extract_features
from core.diffusion.kid import kernel_inception_distance
from core.diffusion.photo_tiles import evaluation_set, to_image, to_tensor
from core.diffusion.small_inpaint import inpaint
from core.diffusion.small_model import SmallInpaintModel
from core.diffusion.study_config import StudyConfig
from core.diffusion.study_report import (
    CONCLUSION,
    FULL_SET,
    INPUTS,
    NOISE_SET,
    conclude,
    report_markdown,
    summarize,
)
from core.diffusion.unet_arch import apply_architecture
from core.errors import InputError
from core.spaces import get_space
from core.spaces.sd_unet import FULL_SPEC, SPACE

Log = Callable[[str], None]


class Study:
    """One study folder: evaluation inputs, cached reference features, and FID per architecture."""

    def __init__(self, model: SmallInpaintModel, out: str | Path, config: StudyConfig, log: Log = print) -> None:
        self.model, self.out, self.config, self.log = model, Path(out), config, log
        self.space = get_space(SPACE)
        size = model.config.image_size
        tiles = evaluation_set(size, config.tiles_per_photo, config.seed)[:config.max_images]
        self.stems = [stem for stem, *_ in tiles]
        self.images = torch.stack([to_tensor(t) for _, t, _, _ in tiles])
        self.masks = torch.stack([torch.from_numpy(np.asarray(m, dtype=np.float32) / 255.0)[None]
                                  for _, _, m, _ in tiles])
        inputs = self.out / INPUTS
        for sub in ("originals", "masks"):
            (inputs / sub).mkdir(parents=True, exist_ok=True)
        for stem, tile, mask, _ in tiles:
            tile.save(inputs / "originals" / f"{stem}.png")
            mask.save(inputs / "masks" / f"{stem}.png")
        (inputs / "SOURCES.txt").write_text("\n".join(sorted({c for *_, c in tiles})) + "\n")
        self.reference = self._reference_features(inputs / "reference_features.npz",
                                                  [t for _, t, _, _ in tiles])

    def _reference_features(self, path: Path, tiles) -> np.ndarray:
        names = np.array(self.stems)
        if path.is_file():
            stored = np.load(path, allow_pickle=False)
            if list(stored["names"]) == list(names):
                return stored["features"]
        features = extract_features(tiles, batch_size=64, device=self.config.device)
        np.savez(path, features=features, names=names)
        return features

    def _kid(self, features: np.ndarray) -> dict:
        kid = kernel_inception_distance(features, self.reference, self.config.kid_subsets, seed=self.config.seed)
        return {"kid": kid.mean, "kid_std": kid.std}

    def settings(self, seed: int) -> dict:
        return {"model": "small SD-v1.4-layout pixel-space inpainting model (not SD v1.4)",
                "images": len(self.stems), "size": self.model.config.image_size,
                "masks": "make_mask(stem, size, seed)", "sampler": "DDIM eta=0", "steps": self.config.steps,
                "seed": seed, "device": self.config.device,
                "kid": f"mean and std over {self.config.kid_subsets} subsets of half the images"}

    def evaluate(self, name: str, set_label: str, spec: str, seed: int | None = None) -> dict:
        """Inpaint with ``spec``, write its folder, return its row (read back when already done)."""
        seed = self.config.seed if seed is None else seed
        folder = self.out / name
        record = folder / "arch.json"
        if (folder / "fid.json").is_file() and record.is_file():
            meta = json.loads(record.read_text())
            if meta.get("arch") == spec and meta.get("seed") == seed:
                if "kid" not in meta["row"] and (folder / "features.npy").is_file():  # a study from before KID
                    meta["row"].update(self._kid(np.load(folder / "features.npy")))
                    record.write_text(json.dumps(meta, indent=2) + "\n")
                return meta["row"]
        images, seconds = inpaint(self.model, spec, self.images, self.masks, self.config.steps, seed)
        folder.mkdir(parents=True, exist_ok=True)
        pil = [to_image(x) for x in images]
        for stem, img in zip(self.stems, pil):
            img.save(folder / f"{stem}.png")
        features = extract_features(pil, batch_size=64, device=self.config.device)
        np.save(folder / "features.npy", features)
        value = frechet_distance(features, self.reference)
        applied = apply_architecture(self.model.unet, spec)
        size = f"{self.model.config.image_size}x{self.model.config.image_size}"
        write_fid_record(FIDResult(value, str(folder), str(self.out / INPUTS / "originals"), len(pil), len(pil),
                                   [size], [size], {**self.settings(seed), "arch": name}), folder / "fid.json")
        row = {"name": name, "set": set_label, "arch": spec, "removed": len(applied.removed), "fid": value,
               **self._kid(features), "params": applied.params, "seconds_per_image": seconds}
        record.write_text(json.dumps({"name": name, "set": set_label, "arch": spec, "params": applied.params,
                                      "params_full": applied.params_full, "removed": applied.removed,
                                      "model_dir": "small SD-v1.4-layout model (not SD v1.4)", "seed": seed,
                                      "steps": self.config.steps, "images": len(pil), "row": row}, indent=2) + "\n")
        self.log(f"{name:>10} ({set_label}): FID {value:.2f}, {applied.params:,} params, {seconds * 1000:.0f} ms/image")
        return row


def _train_predictor(rows: pd.DataFrame, out: Path, config: StudyConfig):
    from core.predictor import TrainConfig
    from core.runs.run import Run
    from core.tables.validated import validate_table
    from core.workflow import train_from_table

    run_dir = out / "predictor"
    if (run_dir / "config.json").is_file():
        return Run.load(run_dir)
    table = validate_table(rows[["arch", "fid"]], SPACE, source="study table", metric_columns=["fid"])
    outcome = train_from_table(table, "-fid", run_dir, overwrite=True,
                               train_config=TrainConfig(epochs=config.predictor_epochs, seed=config.seed,
                                                         min_steps=config.predictor_min_steps))
    return outcome.run


def _exhaustive(run, config: StudyConfig, exclude: set[str]) -> list[str]:
    from core.building.head_top import head_top
    from core.diffusion.exhaustive import exhaustive_top

    if config.exhaustive_pool is None:
        return list(head_top(run, config.n_pick)["arch"])
    pool = get_space(SPACE).sample_distinct(config.exhaustive_pool, np.random.default_rng(config.seed + 2))

    def predict(specs: list[str]) -> np.ndarray:
        return run.predict([run.space.to_graph(s) for s in specs]).values

    return list(exhaustive_top(predict, config.n_pick, specs=pool, exclude=exclude)["arch"])


def run_study(model: SmallInpaintModel, out: str | Path, config: StudyConfig = StudyConfig(),
              log: Log = print, label: str = "") -> pd.DataFrame:
    """Run (or resume) the whole study into ``out``; returns the summary table. ``label`` (e.g. "toy model
    trained 5 minutes on a CPU") is stored in ``study.json`` and shown above the study wherever it appears."""
    from core.building.builder import build_architectures
    from core.building.config import BuildConfig

    out = Path(out)
    study = Study(model, out, config, log)
    space = study.space
    rng = np.random.default_rng(config.seed)
    randoms = space.sample_distinct(config.n_random, rng)
    labels = config.set_labels()
    rows = [study.evaluate(f"r{config.n_random}-{i:02d}", labels["random"], s) for i, s in enumerate(randoms, 1)]
    run = _train_predictor(pd.DataFrame(rows), out, config)
    if config.device != "cpu":  # the exhaustive baseline scores up to 884,736 graphs: use the accelerator
        from core.runs.run import Run

        run = Run.load(out / "predictor", device=config.device)
    built = list(build_architectures(run, BuildConfig(top=config.n_pick)).built["arch"])
    es = _exhaustive(run, config, set(randoms))
    matched = matched_random(space, built, config.matched_per_pick, rng, set(randoms) | set(built) | set(es), log)
    picks = {"autobuild": ("ab", built), "es": ("es", es), "matched_random": ("rnd", matched)}
    for kind, (prefix, specs) in picks.items():
        rows += [study.evaluate(f"{prefix}-{i}", labels[kind], s) for i, s in enumerate(specs, 1)]
    rows.append(study.evaluate("full", FULL_SET, FULL_SPEC))
    results = pd.DataFrame(rows)
    results.to_csv(out / "results.csv", index=False)
    floor = noise_floor(study, randoms[0])
    (out / "noise_floor.json").write_text(json.dumps(floor, indent=2) + "\n")
    summary = summarize(results, config)
    summary.to_csv(out / "summary.csv", index=False)
    conclusion = conclude(results, floor, config)
    (out / CONCLUSION).write_text(json.dumps(conclusion, indent=2) + "\n")
    (out / "study.json").write_text(json.dumps({"label": label, "config": dataclasses.asdict(config),
                                                "protocol": study.settings(config.seed),
                                                "model_params": sum(p.numel() for p in model.unet.parameters())},
                                               indent=2) + "\n")
    (out / "README.md").write_text(report_markdown(summary, floor, config, model.config.image_size, label, conclusion))
    return summary


def matched_random(space, picks: list[str], per_pick: int, rng: np.random.Generator, exclude: set[str],
                   log: Log = print) -> list[str]:
    """``per_pick`` distinct random architectures for each pick, removing as many blocks as it does (fewer
    when the space has fewer such architectures, e.g. none but the full network removes 0)."""
    chosen: list[str] = []
    taken = set(exclude)
    for pick in picks:
        removed, found = space.removed_count(pick), 0
        for _ in range(50 * per_pick):
            spec = space.sample_removing(removed, rng)
            if spec not in taken:
                taken.add(spec)
                chosen.append(spec)
                found += 1
                if found == per_pick:
                    break
        if found < per_pick:
            log(f"only {found} random architectures remove {removed} blocks besides the picks")
    return chosen


def noise_floor(study: Study, spec: str) -> dict:
    """FID changes that come from the seed alone: the measure every FID gap must exceed to mean something."""
    seed2 = study.config.seed + 1
    full0 = study.evaluate("full", FULL_SET, FULL_SPEC)
    full1 = study.evaluate("full-seed2", NOISE_SET, FULL_SPEC, seed2)
    arch0 = study.evaluate(f"r{study.config.n_random}-01", study.config.set_labels()["random"], spec)
    arch1 = study.evaluate("r01-seed2", NOISE_SET, spec, seed2)
    between = frechet_distance(np.load(study.out / "full" / "features.npy"),
                               np.load(study.out / "full-seed2" / "features.npy"))
    return {"full network, seed 0 vs seed 1 (FID against the reference)": [full0["fid"], full1["fid"]],
            "first random architecture, seed 0 vs seed 1": [arch0["fid"], arch1["fid"]],
            "full network seed 0 vs its own seed-1 images (FID between the two)": between,
            "seed noise (largest FID change from the seed alone)":
                max(abs(full0["fid"] - full1["fid"]), abs(arch0["fid"] - arch1["fid"]))}


def inpaint_files(model: SmallInpaintModel, spec: str, originals: list[Path], masks: list[Path | None],
                  steps: int = 25, seed: int = 0, progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> list:
    """Inpaint image files (with their mask files, white = repaint) with one architecture of the small model;
    images are resized to the model's size. Returns PIL images (what the Inpainting page shows).
    ``should_stop`` as in :func:`core.diffusion.small_inpaint.inpaint` (raises Cancelled between steps)."""
    from PIL import Image

    size = model.config.image_size
    images, mask_tensors = [], []
    for original, mask in zip(originals, masks):
        if mask is None:
            raise InputError(f"image {Path(original).name} has no mask of the same name")
        try:
            with Image.open(original) as img, Image.open(mask) as m:
                images.append(to_tensor(img.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)))
                pixels = np.asarray(m.convert("L").resize((size, size), Image.Resampling.NEAREST), dtype=np.float32)
        except OSError as err:
            raise InputError(f"cannot read image {original} or its mask: {err}") from None
        mask_tensors.append(torch.from_numpy((pixels > 127).astype(np.float32))[None])
    if not images:
        raise InputError("no images to inpaint")
    out, _ = inpaint(model, spec, torch.stack(images), torch.stack(mask_tensors), steps, seed, batch_size=4,
                     progress=progress, should_stop=should_stop)
    return [to_image(x) for x in out]
