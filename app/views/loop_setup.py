"""Starting a campaign from the dashboard: the methods offered, the evaluators that fit a table, and the
evaluator with the metric columns it can produce (core.search.searchers, core.evaluators)."""
from __future__ import annotations

import time

from app import messages, table_cache
from core.errors import InputError
from core.evaluators import ExternalEvaluator, LookupEvaluator, MeasureEvaluator
from core.evaluators.measure import MEASURED_COLUMNS
from core.search.searchers import DEFAULT_METHOD, SEARCHERS, campaign_methods
from core.spaces import get_space
from core.tables.validated import ValidatedTable, validate_table

#: What the method select box shows; the default (best on benchmarks/results/build_quality_*.md) first,
#: the paper's straight build second.
#: The others show the searcher's own description.
METHOD_LABELS = {
    DEFAULT_METHOD: "AutoBuild-guided evolution (recommended)",
    "autobuild": "AutoBuild (paper, one shot)",
}

EXTERNAL_LABEL = "I evaluate them myself"


def method_options(space: str | None = None) -> list[str]:
    """The methods offered for a campaign on ``space`` (all when None): only those the space supports,
    e.g. no sampling method on the ``graph`` or ``onnx`` space."""
    methods = campaign_methods(None if space is None else get_space(space))
    first = [m for m in (DEFAULT_METHOD, "autobuild") if m in methods]
    return first + [m for m in methods if m not in first]


def method_label(name: str) -> str:
    label = METHOD_LABELS.get(name) or (SEARCHERS[name].description if name in SEARCHERS else "")
    return f"{label} · {name}" if label else name


def evaluator_options(table: ValidatedTable, dataset: str | None) -> dict[str, str]:
    """name -> label of the evaluators that fit the current table: look-up when its space ships a
    table for its dataset, measure when the space builds networks (OFA), and always the user."""
    space = get_space(table.space_name)
    options = {}
    if space.has_lookup and dataset in space.datasets:
        options["lookup"] = f"Look-up in the {space.name}/{dataset} benchmark (instant, the real trained metrics)"
    if space.can_measure:
        options["measure"] = "Measure here: build each network and time it (about a second each)"
    options["external"] = EXTERNAL_LABEL
    return options


def make_evaluator(choice: str, table: ValidatedTable, dataset: str | None, device: str):
    """(evaluator, the table's metric columns it keeps). An automatic evaluator must produce every
    metric column of the campaign, so columns it cannot produce (the ``threads`` setting of an OFA
    latency table, a column a benchmark lacks) are left out of the campaign rather than refused."""
    columns = list(table.metric_columns)
    if choice == "lookup":
        available = set(table_cache.lookup_table(table.space_name, dataset).columns)
        kept = [c for c in columns if c in available]
        if not kept:
            raise InputError(f"the {table.space_name}/{dataset} benchmark has none of the table's metric columns "
                             f"{columns}; choose '{EXTERNAL_LABEL}'")
        return LookupEvaluator(table.space_name, dataset, kept), kept
    if choice == "measure":
        kept = [c for c in columns if c in MEASURED_COLUMNS]
        if not kept:
            raise InputError(f"measuring gives {list(MEASURED_COLUMNS)}, none of the table's metric columns "
                             f"{columns}; choose '{EXTERNAL_LABEL}'")
        return MeasureEvaluator(table.space_name, device=device), kept
    return ExternalEvaluator(table.space_name, columns), columns


def keep_columns(table: ValidatedTable, kept: list[str]) -> ValidatedTable:
    if kept == list(table.metric_columns):
        return table
    return validate_table(table.frame[["arch", *kept]], table.space_name, source=table.source, metric_columns=kept)


def auto_campaign_name(space: str, dataset: str | None, target: str) -> str:
    """A readable name: space, dataset, target and the second it was asked for. Two campaigns started in
    the same second share it, so it is created with ``Campaign.create(..., unique=True)``, which claims
    ``name-2``, ``name-3``, ... (core.campaign.campaign.claim_campaign_dir)."""
    slug = messages.safe_run_name(target)[:24] or "target"
    return f"{space}-{dataset or 'table'}-{slug}-{time.strftime('%Y%m%d-%H%M%S')}"
