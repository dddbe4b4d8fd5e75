"""The run list: every complete run under a folder, read without loading its model (core/runs/run.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.runs.loading import CONFIG_FILE, METRICS_FILE, MODEL_FILE, NO_SPLIT, read_json_file


@dataclass
class RunSummary:
    """One line of the run list: enough to choose a run without loading its model."""

    path: Path
    name: str
    space: str
    dataset: str | None
    target: str
    rows: int
    created: str
    spearman: float | None
    #: False when the run had no validation split: ``spearman`` is then its fit to its training rows.
    held_out: bool = True


def list_runs(root: str | Path = "runs") -> list[RunSummary]:
    """Every complete run directly under ``root``, newest first (partial directories are skipped)."""
    root = Path(root)
    found = []
    if not root.is_dir():
        return found
    for path in root.iterdir():
        if path.name.startswith(".") or not (path / CONFIG_FILE).is_file() or not (path / MODEL_FILE).is_file():
            continue
        try:
            config = read_json_file(path / CONFIG_FILE)
            metrics = read_json_file(path / METRICS_FILE) if (path / METRICS_FILE).is_file() else {}
        except InputError:
            continue
        if not isinstance(config, dict) or not isinstance(metrics, dict):
            continue
        try:
            heldout = metrics.get("heldout", {})
            found.append(RunSummary(path, path.name, str(config.get("space", "?")), config.get("dataset"),
                                    str(config.get("target", "?")), int(config.get("rows", 0)),
                                    str(config.get("created", "")),
                                    heldout.get("spearman") if isinstance(heldout, dict) else None,
                                    metrics.get("heldout_split", "validation") != NO_SPLIT))
        except (TypeError, ValueError, OverflowError):  # a hand-edited config: listed runs must stay readable
            continue
    return sorted(found, key=lambda r: r.created, reverse=True)
