"""The Inpainting page's "Your outputs / SD v1.4" tab (app/views/inpainting.py): folders written by
``python -m core inpaint`` or generated here from a local diffusers inpainting model directory, with
FIDs from a table or computed from the folders, drawn as a grid."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from app import jobs, state, widgets
from app.views.inpainting_job import inpaint_running
from app.state import ROOT
from core.diffusion.fid import default_cache_dir, fid_if_cached, summarize_by_set
from core.diffusion.gallery import (column_header, folder_stamp, image_files, masked_view, parse_architectures,
                                    read_fid_table, results_table)
from core.diffusion.pipeline import INPUTS_DIR, check_model_dir, native_size
from core.errors import InputError

MODEL_ENV = "AUTOBUILD_SD_MODEL_DIR"
OUTPUT_ENV = "AUTOBUILD_INPAINT_DIR"
MAX_COLUMNS = 8

HONESTY = ("No Stable Diffusion weights ship with AutoBuild Studio. Images appear here only from folders you "
           "choose; they are Stable Diffusion results only when they were generated from a real SD v1.4 "
           "inpainting model directory (each architecture's `arch.json` names the model directory it came from).")

HOW_TO_CONFIGURE = f"""
No model directory is configured, so this page cannot generate images; it still compares existing outputs.

To generate, put a diffusers-format **inpainting** pipeline on this machine (a folder with `model_index.json`,
`unet/` whose config has `"in_channels": 9`, `vae/`, `text_encoder/`, `tokenizer/` and `scheduler/`, e.g. a
local copy of an SD v1.x inpainting checkpoint), then either

- start the dashboard with `{MODEL_ENV}=/path/to/sd-inpainting streamlit run app/main.py`, or
- paste the folder's path into **Model directory** above, or
- run the same job from a shell:
  `python -m core inpaint --model-dir /path/to/sd-inpainting --arch archs.csv --images IMAGES --masks MASKS --out OUT`

Nothing is downloaded: the pipeline loads with `local_files_only=True`.
"""


# ------------------------------------------------------------------------------------------ helpers
def default_output_root() -> Path:
    value = os.environ.get(OUTPUT_ENV)
    return Path(value).expanduser() if value else ROOT / "runs" / "inpainting"


@st.cache_data(show_spinner=False, max_entries=256)
def cached_fid(folder: str, reference: str, cache_dir: str | None, stamp: tuple) -> float:
    """The FID from the feature cache (NaN when not embedded yet); memoised per ``stamp`` so a rerun does not
    hash every image again."""
    try:
        result = fid_if_cached(folder, reference, cache_dir)
    except InputError:
        return float("nan")
    return float("nan") if result is None else result.value


def computed_fid_lookup(reference: Path | None, cache_dir: str | None):
    """``folder -> FID`` from the feature cache (NaN when not embedded yet), memoised by folder stamps."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()

    def lookup(folder: str) -> float:
        if reference is None or not reference.is_dir():
            return float("nan")
        # The cache folder's mtime changes whenever a feature file is added (here or by the CLI).
        stamp = (folder_stamp(Path(folder)), folder_stamp(reference), cache.stat().st_mtime_ns if cache.is_dir() else 0)
        return cached_fid(folder, str(reference), cache_dir, stamp)

    return lookup


# ------------------------------------------------------------------------------------------ sections
def inputs_section() -> tuple[Path, Path, Path]:
    st.subheader("Folders")
    root = Path(st.text_input("Output folder (one subfolder per architecture)", str(default_output_root()),
                              key="inpaint_root")).expanduser()
    cols = st.columns(2)
    reference = Path(cols[0].text_input("Reference images (the originals)", str(root / INPUTS_DIR / "originals"),
                                        key="inpaint_reference")).expanduser()
    masks = Path(cols[1].text_input("Masks (white = repaint; same file names)", str(root / INPUTS_DIR / "masks"),
                                    key="inpaint_masks")).expanduser()
    if not image_files(reference):
        st.info(f"No images in `{reference}`. Use your own originals, or write the real photographs that ship "
                "with scikit-image and scikit-learn (with deterministic masks) into the output folder.")
        if st.button("Write the bundled sample photographs", key="inpaint_write_sample"):
            from core.diffusion.sample_images import write_sample_set

            try:
                write_sample_set(root / INPUTS_DIR)
            except InputError as err:
                st.error(str(err))
            else:
                st.rerun()
    return root, reference, masks


def model_section(root: Path, reference: Path, masks: Path) -> None:
    st.subheader("Generate")
    model_dir = st.text_input("Model directory (diffusers inpainting pipeline)", os.environ.get(MODEL_ENV, ""),
                              key="inpaint_model_dir").strip()
    if not model_dir:
        st.info(HOW_TO_CONFIGURE)
        return
    try:
        path = check_model_dir(model_dir, setting="the Model directory field above")
        native = native_size(path)
    except InputError as err:
        st.error(str(err))
        st.markdown(HOW_TO_CONFIGURE)
        return
    running = inpaint_running()
    with st.form("inpaint_generate"):
        specs = st.text_area("Architectures: one sd-unet spec (JSON) or `full` per line, or the path of a table "
                             "with `arch` (+ `name`, `set`) columns", "full", key="inpaint_specs")
        cols = st.columns(4)
        steps = cols[0].number_input("Steps", 1, 500, 50, key="inpaint_steps")
        seed = cols[1].number_input("Seed", 0, 2**31 - 1, 0, key="inpaint_seed")
        # The model's native size first (the default), as diffusers pipelines do; others for quick looks.
        size = cols[2].selectbox("Size (px)", [native] + [s for s in (512, 256, 768, 64) if s != native],
                                 format_func=lambda s: f"{s} (native)" if s == native else str(s), key="inpaint_size")
        guidance = cols[3].number_input("Guidance", 0.0, 30.0, 7.5, key="inpaint_guidance")
        submitted = st.form_submit_button("Generate", disabled=running)
    if submitted and not running:
        generate(path, specs, root, reference, masks, int(steps), int(seed), int(size), float(guidance))


def generate(model_dir: Path, specs: str, root: Path, reference: Path, masks: Path, steps: int, seed: int,
             size: int, guidance: float) -> None:
    """Start generating in the background (app.jobs.launch); the page follows it with a progress bar and Cancel."""
    from core.diffusion.inpaint_inputs import load_inputs

    try:
        archs = parse_architectures(specs.splitlines(), source="the Architectures field")
        inputs = load_inputs(reference, masks, size)
    except InputError as err:
        st.error(str(err))
        return
    jobs.start_pipeline_inpaint(str(model_dir), archs, inputs, str(root), steps=steps, seed=seed, guidance=guidance)
    st.rerun()


def fid_section(outputs: pd.DataFrame, reference: Path) -> pd.DataFrame:
    st.subheader("FID")
    cols = st.columns([3, 2])
    path = cols[0].text_input("Table with a `fid` column (optional: CSV/Parquet/JSONL with `name` or `arch`, "
                              "and `set`)", "", key="inpaint_table")
    upload = cols[1].file_uploader("... or upload it", type=["csv", "parquet", "jsonl", "json"],
                                   key="inpaint_table_upload")
    cache_dir = os.environ.get("AUTOBUILD_FID_CACHE") or None
    try:
        table = read_fid_table(upload if upload is not None else path.strip())
    except InputError as err:
        st.error(str(err))
        table = None
    results = results_table(outputs, table, computed_fid_lookup(reference, cache_dir))
    fid_progress()  # before the button: a finished job's FIDs change what is missing
    missing = results[results["fid"].isna() & results["name"].isin(outputs["name"])]
    if len(missing) and image_files(reference):
        st.caption(f"{len(missing)} architecture folder(s) have no FID yet. Inception-v3 features take about "
                   "0.3-0.5 s per image on a 2-core CPU and are cached per image set.")
        running = jobs.session_job(jobs.FID_JOB) is not None
        if st.button(f"Compute FID for {len(missing)} architecture(s)", key="inpaint_compute_fid", disabled=running):
            records = outputs[outputs["name"].isin(missing["name"])][["name", "folder"]].to_dict("records")
            jobs.start_fid(records, str(reference), cache_dir)
            st.rerun()
    if results["fid"].notna().any():
        st.markdown("**Summary per set** (average and best FID, as in the paper's SD v1.4 table)")
        st.dataframe(summarize_by_set(results), hide_index=True,
                     column_config={"average FID": st.column_config.NumberColumn(format="%.2f"),
                                    "best FID": st.column_config.NumberColumn(format="%.2f")})
    with st.expander("All architectures", expanded=False):
        st.dataframe(results, hide_index=True)
    computed = results[results["fid source"] == "computed"]
    if len(computed):
        folder = outputs[outputs["name"] == computed["name"].iloc[0]]["folder"].iloc[0]
        example = fid_if_cached(folder, reference, cache_dir)
        if example is not None:
            st.caption("Protocol of the computed FIDs (also in each folder's `fid.json`): "
                       + "; ".join(example.protocol_lines()))
    return results


def draw_fid(job: jobs.Job) -> None:
    st.progress(min(1.0, job.fraction), text=f"Computing FID for {job.label} · {job.stage} · {job.elapsed:.0f} s")
    widgets.stop_button(job, "Cancel", "Cancelling...", key="cancel_fid",
                        help="Stop after the image in flight; the FIDs already computed are kept.")


def fid_progress() -> None:
    """This session's FID job: its outcome once finished (FIDs written, errors), its progress and Cancel meanwhile."""
    job = jobs.collect_finished_job(jobs.FID_JOB, "computing FID")
    if job is not None:
        done, errors = job.result["done"], job.result["errors"]
        stopped = " (cancelled; the rest have none yet)" if job.status == "stopped" else ""
        st.session_state[state.NOTICE] = ("error" if errors and not done else "success",
                                          f"Computed FID for {len(done)} architecture(s){stopped}."
                                          + (f" {len(errors)} failed: {errors[0]}" if errors else ""))
    widgets.show_notice()
    widgets.follow_job(jobs.FID_JOB, "Computing FID", draw_fid)


@st.dialog("Zoom", width="large")
def zoom(stem: str, images: list) -> None:
    st.markdown(f"**{stem}**")
    cols = st.columns(2)
    for i, (title, img) in enumerate(images):
        with cols[i % 2]:
            st.markdown(title)
            if img is None:
                st.caption("missing")
            else:
                st.image(img, width="stretch")


def grid_section(outputs: pd.DataFrame, results: pd.DataFrame, reference: Path, masks: Path) -> None:
    st.subheader("Side by side")
    originals = image_files(reference)
    if not originals:
        st.info("Choose a folder of reference images to see the grid.")
        return
    if not len(outputs):
        st.info("No architecture outputs in this output folder yet: only originals and masks are shown.")
    names = list(outputs["name"])
    chosen = st.multiselect("Architectures (columns)", names, default=names[:MAX_COLUMNS - 2], key="inpaint_archs",
                            max_selections=MAX_COLUMNS)
    mask_files = image_files(masks)
    generated = {name: image_files(Path(folder)) for name, folder in zip(outputs["name"], outputs["folder"])}
    stems = list(originals)
    cols = st.columns(3)
    per_page = cols[0].number_input("Images per page", 1, 50, 4, key="inpaint_rows")
    pages = max(1, -(-len(stems) // per_page))
    page = cols[1].number_input(f"Page (of {pages})", 1, pages, 1, key="inpaint_page")
    cols[2].caption("Hover an image and use its fullscreen button, or press Zoom, to enlarge a row.")
    titles = ["**Original**", "**Masked**"] + [column_header(n, results) for n in chosen]
    for col, title in zip(st.columns(len(titles)), titles):
        col.markdown(title)
    for stem in stems[(page - 1) * per_page: page * per_page]:
        row = [("Original", originals[stem]), ("Masked", masked_view(originals[stem], mask_files.get(stem)))]
        row += [(column_header(n, results), generated[n].get(stem)) for n in chosen]
        for col, (_, img) in zip(st.columns(len(row)), row):
            if img is None:
                col.caption("missing")
            else:
                col.image(img, width="stretch")
        if st.button(f"Zoom {stem}", key=f"inpaint_zoom_{stem}"):
            zoom(stem, row)
