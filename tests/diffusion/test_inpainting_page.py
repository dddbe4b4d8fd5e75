"""The inpainting page (app/views/inpainting.py) through Streamlit's AppTest, on folders of real photographs.

The architecture folders here hold perturbed copies of the originals, written by the test: the page only
reads folders, so no pipeline is needed to test the grid, the FID headers and the summary.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.diffusion.sample_images import write_sample_set
from core.spaces.sd_unet import FULL_SPEC

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "views" / "inpainting.py")


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """An output folder as `python -m core inpaint` writes it: _inputs/ plus two architecture folders."""
    root = tmp_path / "inpainting"
    inputs = write_sample_set(root / "_inputs", size=64)
    rng = np.random.default_rng(0)
    for name, set_label, sigma in (("es1", "Exhaustive Search", 20), ("ab1", "AutoBuild", 5)):
        folder = root / name
        folder.mkdir()
        for src in sorted((inputs / "originals").iterdir()):
            pixels = np.asarray(Image.open(src), dtype=np.float64) + rng.normal(0, sigma, (64, 64, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / src.name)
        (folder / "arch.json").write_text(json.dumps({"name": name, "set": set_label, "arch": FULL_SPEC,
                                                      "params": 100, "model_dir": "/models/sd"}))
    monkeypatch.setenv("AUTOBUILD_INPAINT_DIR", str(root))
    monkeypatch.setenv("AUTOBUILD_FID_CACHE", str(tmp_path / "fid-cache"))
    monkeypatch.delenv("AUTOBUILD_SD_MODEL_DIR", raising=False)
    return root


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120).run()


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_renders_a_grid_from_folders(outputs):
    at = page()
    assert not at.exception
    assert set(at.multiselect(key="inpaint_archs").value) == {"ab1", "es1"}
    headers = texts(at)
    assert "**Original**" in headers and "**Masked**" in headers
    assert "**ab1**  \nFID — · AutoBuild" in headers
    # 4 rows per page by default: original, masked and one image per architecture in each row.
    assert len(at.get("image")) == 4 * 4
    assert [b.label for b in at.button if b.label.startswith("Zoom")][:1] == ["Zoom astronaut_0"]
    # No model directory: the page says so plainly and shows how to configure one.
    assert any("No model directory is configured" in i.value for i in at.info)


def test_fid_table_sets_headers_and_paper_summary(outputs, tmp_path):
    table = tmp_path / "fids.csv"
    pd.DataFrame({"name": ["es1", "ab1", "eval1", "eval2"],
                  "set": ["Exhaustive Search", "AutoBuild", "Eval", "Eval"],
                  "fid": [10.82, 10.13, 22.0, 10.54]}).to_csv(table, index=False)
    at = page()
    at.text_input(key="inpaint_table").set_value(str(table)).run()
    assert not at.exception
    assert "**ab1**  \nFID 10.13 · AutoBuild" in texts(at)
    summary = at.dataframe[0].value.set_index("set")
    assert summary.loc["Eval", "average FID"] == pytest.approx(16.27)
    assert summary.loc["AutoBuild", "best FID"] == pytest.approx(10.13)


def test_computes_fid_from_folders(outputs):
    for folder in ("_inputs/originals", "_inputs/masks", "es1", "ab1"):  # 3 images per set keep Inception short
        for extra in sorted((outputs / folder).glob("*.png"))[3:]:
            extra.unlink()
    at = page()
    at.button(key="inpaint_compute_fid").click().run()
    assert not at.exception
    fid = {name: json.loads((outputs / name / "fid.json").read_text())["fid"] for name in ("es1", "ab1")}
    assert 0 < fid["ab1"] < fid["es1"]  # less noise, closer to the originals
    assert f"**ab1**  \nFID {fid['ab1']:.2f} · AutoBuild" in texts(at)


def test_bad_model_directory_and_bad_table_are_one_line_errors(outputs, tmp_path):
    at = page()
    at.text_input(key="inpaint_model_dir").set_value(str(tmp_path / "nope")).run()
    assert [e.value for e in at.error] and "does not exist" in at.error[0].value
    assert "--model-dir" not in at.error[0].value and "the Model directory field" in at.error[0].value  # the page's field
    at.text_input(key="inpaint_table").set_value(str(tmp_path / "missing.csv")).run()
    assert not at.exception
    assert any("file not found" in e.value for e in at.error)
