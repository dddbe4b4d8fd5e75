"""The Inpainting page's study tab (app/views/inpainting.py): AutoBuild's SD experiment on the small
SD-v1.4-layout inpainting model (:mod:`core.diffusion.study`): the summary next to the noise floor, the
parameters / time / FID chart, the grid, and inpainting of the shown images with any architecture."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st
from PIL import Image

from app import jobs
from app.state import ROOT
from app.views.inpainting_job import inpaint_running
from app.views.inpainting_outputs import MAX_COLUMNS
from core.diffusion.gallery import (
    column_header,
    folder_stamp,
    image_files,
    masked_view,
    parse_architectures,
    tile_sheet,
    upscaled,
)
from core.diffusion.pipeline import INPUTS_DIR
from core.diffusion.study_report import load_study
from core.errors import InputError

STUDY_ENV = "AUTOBUILD_SD_STUDY_DIR"
#: Architecture columns of the study's grid: its tiles are small, and the default sets (AutoBuild's and
#: exhaustive search's picks with the full network) need 2 x n_pick + 1 = 9.
STUDY_COLUMNS = max(MAX_COLUMNS, 10)
SMALL_MODEL_ENV = "AUTOBUILD_SD_SMALL_MODEL"


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
        st.info(f"No finished study in `{folder}`. The study (random architectures of the small SD-v1.4-layout "
                "model -> FID -> AutoBuild and exhaustive-search picks) is made by `bash benchmarks/sd_cpu_run.sh` "
                "(16 x 16, about two hours on 2 CPU cores) or `bash benchmarks/sd_gpu_run.sh` (32 x 32, GPU); "
                f"point `{STUDY_ENV}` at its output folder or copy it to `assets/sd_study`.")
        return
    protocol = study["study"].get("protocol", {})
    size = protocol.get("size", "?")
    if study["study"].get("label"):
        st.warning(f"**{study['study']['label']}**", icon=":material/warning:")
    st.warning(f"This study runs on a **small inpainting model with SD v1.4's U-Net block layout, trained here on "
               f"{size} x {size} tiles of bundled photographs**. It is not Stable Diffusion v1.4: compare rankings "
               "and the gap between the sets with the paper, never the FID values.", icon=":material/science:")
    if study.get("conclusion"):
        st.info(f"**The study's answer.** {study['conclusion']['sentence']}", icon=":material/insights:")
    results, summary = study["results"], study["summary"]
    summary_table(summary)
    floor = study["noise_floor"]
    seed_noise = floor.get("seed noise (largest FID change from the seed alone)")
    if seed_noise is not None:
        st.caption(f"Noise floor: the seed alone moves an FID by up to {seed_noise:.2f}; smaller gaps are noise. "
                   f"Protocol: {', '.join(f'{k} {v}' for k, v in protocol.items())}.")
    per_architecture_charts(results, seed_noise)
    all_architectures(Path(study["folder"]), results, size)
    study_grid(Path(study["folder"]), results, size)


def summary_table(summary: pd.DataFrame) -> None:
    """The paper's table shape: average (and best) FID per set beside the paper's SD v1.4 averages."""
    st.markdown("**Summary per set**: the paper's table (average FID per set) beside its SD v1.4 figures, which "
                "are there for the ranking only")
    number = st.column_config.NumberColumn
    st.dataframe(summary, hide_index=True, key="study_summary",
                 column_config={"average_fid": number("average FID", format="%.2f"),
                                "paper_average_fid": number("paper (SD v1.4) average FID", format="%.2f"),
                                "best_fid": number("best FID", format="%.2f"),
                                "average_kid": number("average KID", format="%.4f"),
                                "kid_sem": number("KID s.e. (over architectures)", format="%.4f"),
                                "params": number("mean params", format="%d"),
                                "seconds_per_image": number("s / image", format="%.4f")})


def per_architecture_charts(results: pd.DataFrame, seed_noise: float | None) -> None:
    """FID (bars: the seed's noise floor) and KID (bars: its std over image subsets) of every architecture."""
    order = results.sort_values("fid")["name"].tolist()
    cols = st.columns(2)
    fid = px.scatter(results, x="name", y="fid", color="set", hover_data=["params"],
                     error_y=None if seed_noise is None else [seed_noise] * len(results),
                     category_orders={"name": order}, title="FID per architecture (bars: ± the seed's noise floor)",
                     labels={"name": "architecture", "fid": "FID"})
    cols[0].plotly_chart(fid, key="study_fid_chart")
    if "kid" in results.columns:
        kid = px.scatter(results, x="name", y="kid", color="set", error_y="kid_std",
                         category_orders={"name": order}, title="KID per architecture (bars: ± std over subsets)",
                         labels={"name": "architecture", "kid": "KID"})
        cols[1].plotly_chart(kid, key="study_kid_chart")
    chart = results.assign(ms_per_image=results["seconds_per_image"] * 1000)
    st.plotly_chart(px.scatter(chart, x="params", y="fid", color="set", size="ms_per_image", hover_name="name",
                               labels={"params": "parameters", "fid": "FID", "ms_per_image": "ms / image"},
                               title="Parameters, time per image and FID"), key="study_chart")


@st.cache_data(show_spinner=False, max_entries=256)
def cached_sheet(folder: str, name: str, stamp: tuple) -> Image.Image | None:
    files = list(image_files(Path(folder) / name).values())
    return tile_sheet(files) if files else None


def all_architectures(folder: Path, results: pd.DataFrame, size: int | str, per_row: int = 5) -> None:
    """Every architecture of the study at a glance, best FID first: its outputs as one sheet each."""
    with st.expander(f"All {len(results)} architectures at a glance (best FID first)", expanded=True):
        st.caption(f"Each sheet holds the same held-out tiles ({size} x {size} pixels, nearest-neighbour "
                   "enlarged), inpainted by one architecture; the grid below compares them with the originals.")
        rows = results.sort_values("fid").to_dict("records")
        for start in range(0, len(rows), per_row):
            for col, row in zip(st.columns(per_row), rows[start:start + per_row]):
                kid = f" · KID {row['kid']:.4f} ± {row['kid_std']:.4f}" if pd.notna(row.get("kid")) else ""
                col.caption(f"{row['name']} · {row['set']}  \nFID {row['fid']:.2f}{kid}")
                try:
                    sheet = cached_sheet(str(folder), row["name"], folder_stamp(folder / row["name"]))
                except InputError as err:  # a damaged image in a study folder the user pointed at
                    col.caption(str(err).splitlines()[0])
                    continue
                if sheet is None:
                    col.caption("no images")
                else:
                    col.image(sheet, width="stretch")


def study_grid(folder: Path, results: pd.DataFrame, size: int | str = "?") -> None:
    present = list(dict.fromkeys(results["set"]))
    default = [s for s in present if s.startswith(("AutoBuild", "ES", "Full"))] or present[:1]
    chosen_sets = st.multiselect("Sets (columns)", present, default=default, key="study_sets")
    names = list(results[results["set"].isin(chosen_sets)]["name"])[:STUDY_COLUMNS]
    originals = image_files(folder / INPUTS_DIR / "originals")
    masks = image_files(folder / INPUTS_DIR / "masks")
    stems = list(originals)
    cols = st.columns(2)
    per_page = int(cols[0].number_input("Images per page", 1, 50, 6, key="study_rows"))
    pages = max(1, -(-len(stems) // per_page))
    page = int(cols[1].number_input(f"Page (of {pages})", 1, pages, 1, key="study_page"))
    shown = stems[(page - 1) * per_page: page * per_page]
    st.caption(f"Images are {size} x {size} pixels, enlarged with nearest-neighbour sampling (each pixel a "
               "square, no smoothing).")
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
                continue
            try:
                col.image(upscaled(img), width="stretch")
            except InputError as err:
                col.caption(str(err).splitlines()[0])
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
