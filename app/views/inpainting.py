"""Inpainting: compare SD-v1.4-layout U-Net architectures side by side (AutoBuild, Mills et al. CVPR 2024, Sec. SD).

Two sources, side by side in tabs:

- **The study** (when a finished study folder exists, shipped in ``assets/sd_study`` or set by
  ``$AUTOBUILD_SD_STUDY_DIR``): AutoBuild's SD experiment run on the small SD-v1.4-layout inpainting model
  (:mod:`core.diffusion.study`): the grid (original | masked | one column per architecture, FID in the header),
  the paper-style summary next to the noise floor, the parameters / time / FID chart, and inpainting of the
  shown images with any architecture of the small model (in the background, with progress and Cancel).
- **Your outputs / SD v1.4**: folders written by ``python -m core inpaint`` or generated here from a local
  diffusers inpainting model directory, with FIDs from a table or computed from the folders.

Everything is computed by :mod:`core.diffusion`; this page only draws.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from core.diffusion.fid import default_cache_dir, fid_between_dirs, fid_if_cached, summarize_by_set, write_fid_record
from core.diffusion.gallery import (column_header, folder_stamp, image_files, masked_view, parse_architectures,
                                    read_fid_table, results_table)
from core.diffusion.pipeline import INPUTS_DIR, check_model_dir, read_outputs
from app import jobs, state, widgets
from core.diffusion.study import load_study
from core.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
STUDY_ENV = "AUTOBUILD_SD_STUDY_DIR"
SMALL_MODEL_ENV = "AUTOBUILD_SD_SMALL_MODEL"
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
        size = cols[2].selectbox("Size", [512, 256, 768, 64], key="inpaint_size")
        guidance = cols[3].number_input("Guidance", 0.0, 30.0, 7.5, key="inpaint_guidance")
        submitted = st.form_submit_button("Generate", disabled=running)
    if submitted and not running:
        generate(path, specs, root, reference, masks, int(steps), int(seed), int(size), float(guidance))


def generate(model_dir: Path, specs: str, root: Path, reference: Path, masks: Path, steps: int, seed: int,
             size: int, guidance: float) -> None:
    """Start generating in the background (app.jobs); the page follows it with a progress bar and Cancel."""
    from core.diffusion.pipeline import load_inputs

    try:
        archs = parse_architectures(specs.splitlines(), source="the Architectures field")
        inputs = load_inputs(reference, masks, size)
    except InputError as err:
        st.error(str(err))
        return
    jobs.start_pipeline_inpaint(str(model_dir), archs, inputs, str(root), steps=steps, seed=seed, guidance=guidance)
    st.rerun()


def inpaint_running() -> bool:
    job = jobs.session_job(jobs.INPAINT_JOB)
    return job is not None and not job.finished


def draw_inpaint(job: jobs.Job) -> None:
    st.progress(min(1.0, job.fraction), text=f"Inpainting `{job.label}` · {job.stage} · {job.elapsed:.0f} s")
    widgets.stop_button(job, "Cancel", "Cancelling...", key="cancel_inpaint",
                        help="Stop after the denoising step in flight; images of an unfinished architecture "
                             "are not kept.")


def inpaint_progress() -> None:
    """This session's inpainting job: its result taken over once finished, its live progress meanwhile."""
    job = jobs.collect_finished_job(jobs.INPAINT_JOB, "inpainting")
    if job is not None:
        if isinstance(job.result, dict):  # the small model's images of the shown page
            st.session_state["study_extra"] = job.result
            st.session_state[state.NOTICE] = ("success", f"Inpainted {len(job.result['stems'])} image(s) with "
                                                         f"`{job.result['label']}` in {job.elapsed:.1f} s.")
        else:
            st.session_state[state.NOTICE] = ("success", f"Wrote {len(job.result)} images to `{job.key}`.")
    widgets.show_notice()
    widgets.follow_job(jobs.INPAINT_JOB, "Inpainting", draw_inpaint)


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
    missing = results[results["fid"].isna() & results["name"].isin(outputs["name"])]
    if len(missing) and image_files(reference):
        st.caption(f"{len(missing)} architecture folder(s) have no FID yet. Inception-v3 features take about "
                   "0.3-0.5 s per image on a 2-core CPU and are cached per image set.")
        if st.button(f"Compute FID for {len(missing)} architecture(s)", key="inpaint_compute_fid"):
            compute_fids(outputs[outputs["name"].isin(missing["name"])], reference, cache_dir)
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


def compute_fids(outputs: pd.DataFrame, reference: Path, cache_dir: str | None) -> None:
    bar = st.progress(0.0, text="Computing FID ...")
    for i, record in enumerate(outputs.to_dict("records")):
        try:
            result = fid_between_dirs(record["folder"], reference, cache_dir=cache_dir)
        except InputError as err:
            st.error(f"{record['name']}: {err}")
            continue
        write_fid_record(result, Path(record["folder"]) / "fid.json")
        bar.progress((i + 1) / len(outputs), text=f"{record['name']}: FID {result.value:.2f}")


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


# ------------------------------------------------------------------------------------------ study
def study_dir() -> Path:
    value = os.environ.get(STUDY_ENV)
    return Path(value).expanduser() if value else ROOT / "assets" / "sd_study"


def small_model_dir() -> Path:
    value = os.environ.get(SMALL_MODEL_ENV)
    return Path(value).expanduser() if value else ROOT / "assets" / "sd_small_model"


@st.cache_data(show_spinner=False)
def cached_study(folder: str, stamp: float) -> dict | None:
    return load_study(folder)


def study_section() -> None:
    folder = study_dir()
    summary_file = folder / "summary.csv"
    try:
        study = cached_study(str(folder), summary_file.stat().st_mtime if summary_file.is_file() else 0.0)
    except InputError as err:
        st.error(str(err))
        return
    if study is None:
        st.info(f"No finished study in `{folder}`. The study (68 random architectures of the small "
                "SD-v1.4-layout model -> FID -> AutoBuild and exhaustive-search picks) is run on a GPU with "
                "`benchmarks/train_sd_small.py` then `benchmarks/sd_experiment.py`; point "
                f"`{STUDY_ENV}` at its output folder or copy it to `assets/sd_study`.")
        return
    protocol = study["study"].get("protocol", {})
    if study["study"].get("label"):
        st.warning(f"**{study['study']['label']}**", icon=":material/warning:")
    st.warning("This study runs on a **small inpainting model with SD v1.4's U-Net block layout, trained here on "
               f"{protocol.get('size', '?')} x {protocol.get('size', '?')} tiles of bundled photographs**. It is "
               "not Stable Diffusion v1.4: compare rankings and the gap between the sets with the paper, never "
               "the FID values.", icon=":material/science:")
    results, summary = study["results"], study["summary"]
    st.markdown("**Summary per set** (average and best FID; the paper's SD v1.4 values for the ranking only)")
    st.dataframe(summary, hide_index=True, key="study_summary",
                 column_config={"average_fid": st.column_config.NumberColumn("average FID", format="%.2f"),
                                "best_fid": st.column_config.NumberColumn("best FID", format="%.2f"),
                                "params": st.column_config.NumberColumn("mean params", format="%d"),
                                "seconds_per_image": st.column_config.NumberColumn("s / image", format="%.4f")})
    floor = study["noise_floor"]
    seed_noise = floor.get("seed noise (largest FID change from the seed alone)")
    if seed_noise is not None:
        st.caption(f"Noise floor: the seed alone moves an FID by up to {seed_noise:.2f}; smaller gaps are noise. "
                   f"Protocol: {', '.join(f'{k} {v}' for k, v in protocol.items())}.")
    chart = results.assign(ms_per_image=results["seconds_per_image"] * 1000)
    st.plotly_chart(px.scatter(chart, x="params", y="fid", color="set", size="ms_per_image", hover_name="name",
                               labels={"params": "parameters", "fid": "FID", "ms_per_image": "ms / image"},
                               title="Parameters, time per image and FID"), key="study_chart")
    study_grid(Path(study["folder"]), results)


def study_grid(folder: Path, results: pd.DataFrame) -> None:
    present = list(dict.fromkeys(results["set"]))
    default = [s for s in present if s.startswith(("AutoBuild", "ES"))] or present[:1]
    chosen_sets = st.multiselect("Sets (columns)", present, default=default, key="study_sets")
    names = list(results[results["set"].isin(chosen_sets)]["name"])[:MAX_COLUMNS]
    originals = image_files(folder / INPUTS_DIR / "originals")
    masks = image_files(folder / INPUTS_DIR / "masks")
    stems = list(originals)
    cols = st.columns(2)
    per_page = int(cols[0].number_input("Images per page", 1, 50, 6, key="study_rows"))
    pages = max(1, -(-len(stems) // per_page))
    page = int(cols[1].number_input(f"Page (of {pages})", 1, pages, 1, key="study_page"))
    shown = stems[(page - 1) * per_page: page * per_page]
    extra = st.session_state.get("study_extra")
    columns = [(column_header(n, results), image_files(folder / n)) for n in names]
    if extra and extra["stems"] == shown:
        columns.append((f"**{extra['label']}**  \nnew run", extra["images"]))
    titles = ["**Original**", "**Masked**"] + [t for t, _ in columns]
    for col, title in zip(st.columns(len(titles)), titles):
        col.markdown(title)
    for stem in shown:
        row = [originals[stem], masked_view(originals[stem], masks.get(stem))] + [files.get(stem) for _, files in columns]
        for col, img in zip(st.columns(len(row)), row):
            if img is None:
                col.caption("missing")
            else:
                col.image(img, width="stretch")
    inpaint_shown(folder, results, shown, originals, masks)


def inpaint_shown(folder: Path, results: pd.DataFrame, stems: list[str], originals: dict, masks: dict) -> None:
    """Inpaint the images on this page with any architecture of the small model (a background job with
    progress and Cancel)."""
    model_dir = small_model_dir()
    st.markdown("**Inpaint the shown images with another architecture**")
    if not (model_dir / "model.safetensors").is_file():
        st.info(f"The small model's weights are not in `{model_dir}` (set `{SMALL_MODEL_ENV}`), so new "
                "architectures cannot be run here; the grid above shows the study's own outputs.")
        return
    running = inpaint_running()
    with st.form("study_inpaint"):
        options = ["full"] + list(results["name"])
        choice = st.selectbox("Architecture", options, key="study_arch")
        custom = st.text_input("... or an sd-unet spec (JSON)", "", key="study_spec")
        submitted = st.form_submit_button("Inpaint the shown images", disabled=running)
    if not submitted or running:
        return
    text = custom.strip() or ("full" if choice == "full" else results.set_index("name").loc[choice, "arch"])
    try:
        [arch] = parse_architectures([text], source="the spec field")
        steps = json.loads((folder / "study.json").read_text())["config"]["steps"]
    except (InputError, ValueError) as err:
        st.error(str(err).splitlines()[0])
        return
    jobs.start_study_inpaint(str(model_dir), arch.spec, custom.strip() and arch.name or choice,
                             [originals[s] for s in stems], [masks.get(s) for s in stems], int(steps), list(stems))
    st.rerun()


# ------------------------------------------------------------------------------------------ page
def render() -> None:
    st.title("Inpainting")
    st.caption("Compare U-Net architectures with SD v1.4's block layout (AutoBuild's SD experiment) on identical "
               "images, masks and noise, by eye and by FID.")
    inpaint_progress()
    study_tab, own_tab = st.tabs(["Study (small model)", "Your outputs / SD v1.4 (local model directory)"])
    with study_tab:
        study_section()
    with own_tab:
        st.warning(HONESTY, icon=":material/info:")
        root, reference, masks = inputs_section()
        model_section(root, reference, masks)
        outputs = read_outputs(root)
        results = fid_section(outputs, reference)
        grid_section(outputs, results, reference, masks)


if __name__ == "__main__":
    render()
