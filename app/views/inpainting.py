"""Inpainting: compare SD-v1.4-layout U-Net architectures side by side (AutoBuild, Mills et al. CVPR 2024, Sec. SD).

Two sources, side by side in tabs:

- **The study** (when a finished study folder exists, shipped in ``assets/sd_study`` or set by
  ``$AUTOBUILD_SD_STUDY_DIR``): AutoBuild's SD experiment run on the small SD-v1.4-layout inpainting model
  (:mod:`core.diffusion.study`): the grid (original | masked | one column per architecture, FID in the header),
  the paper-style summary next to the noise floor, the parameters / time / FID chart, and inpainting of the
  shown images with any architecture of the small model (in the background, with progress and Cancel).
- **Your outputs / SD v1.4**: folders written by ``python -m core inpaint`` or generated here from a local
  diffusers inpainting model directory, with FIDs from a table or computed from the folders.

The study tab is app/views/inpainting_study.py, the outputs tab app/views/inpainting_outputs.py, the
job's progress app/views/inpainting_job.py. Everything is computed by :mod:`core.diffusion`; this page only draws.
"""
from __future__ import annotations

import streamlit as st

from app.views.inpainting_job import inpaint_progress
from app.views.inpainting_outputs import (
    HONESTY,
    fid_section,
    grid_section,
    inputs_section,
    model_section,
)
from app.views.inpainting_study import study_section
from core.diffusion.pipeline import read_outputs


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
