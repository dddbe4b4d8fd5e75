"""The inpainting page (app/views/inpainting.py) through Streamlit's AppTest, on folders of real photographs.

The architecture folders here hold perturbed copies of the originals, written by the test: the page only
reads folders, so no pipeline is needed to test the grid, the FID headers and the summary.
"""
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.diffusion.sample_images import write_sample_set
from core.spaces.sd_unet import FULL_SPEC

pytestmark = pytest.mark.slow  # trains predictors, loads every benchmark or drives the app

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
PAGE = "views/inpainting.py"


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
    monkeypatch.setenv("AUTOBUILD_SD_STUDY_DIR", str(tmp_path / "no-study"))
    return root


def page() -> AppTest:
    """The page as the dashboard routes it (through app/main.py, like every other page)."""
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    return at.switch_page(PAGE).run()


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


@pytest.mark.slow
def test_computes_fid_from_folders(outputs):
    for folder in ("_inputs/originals", "_inputs/masks", "es1", "ab1"):  # 3 images per set keep Inception short
        for extra in sorted((outputs / folder).glob("*.png"))[3:]:
            extra.unlink()
    at = page()
    at.button(key="inpaint_compute_fid").click().run()
    assert not at.exception
    wait_for(at, lambda a: any("Computed FID for 2 architecture(s)" in s.value for s in a.success))
    fid = {name: json.loads((outputs / name / "fid.json").read_text())["fid"] for name in ("es1", "ab1")}
    assert 0 < fid["ab1"] < fid["es1"]  # less noise, closer to the originals
    assert f"**ab1**  \nFID {fid['ab1']:.2f} · AutoBuild" in texts(at)


def test_compute_fid_can_be_cancelled_and_keeps_what_was_done(outputs, monkeypatch):
    """Compute FID runs as a job with a Cancel button: Cancel stops it between images (here a stand-in
    that reports an image every 50 ms until stopped), and no fid.json is written for the one cut short."""
    from core.diffusion import fid as fid_module

    started = []

    def slow_fid(generated, reference, cache_dir=None, use_cache=True, progress=None):
        started.append(generated)
        for n in range(10_000):
            time.sleep(0.05)
            progress("generated", n, 10_000)  # raises Cancelled once Cancel is pressed
        raise AssertionError("Cancel did not stop the FID job")

    monkeypatch.setattr(fid_module, "fid_between_dirs", slow_fid)
    at = page()
    at.button(key="inpaint_compute_fid").click().run()
    wait_for(at, lambda a: any(b.key == "cancel_fid" for b in a.button))
    at.button(key="cancel_fid").click().run()

    def told(a: AppTest) -> bool:
        return any("Computed FID for 0 architecture(s) (cancelled" in s.value for s in a.success)
    if not told(at):  # the job may end within the click's own run, which then shows the notice
        wait_for(at, told)
    assert len(started) == 1 and not any((outputs / name / "fid.json").exists() for name in ("es1", "ab1"))


@pytest.mark.slow
def test_bad_model_directory_and_bad_table_are_one_line_errors(outputs, tmp_path):
    at = page()
    at.text_input(key="inpaint_model_dir").set_value(str(tmp_path / "nope")).run()
    assert [e.value for e in at.error] and "does not exist" in at.error[0].value
    assert "--model-dir" not in at.error[0].value and "the Model directory field" in at.error[0].value  # the page's field
    at.text_input(key="inpaint_table").set_value(str(tmp_path / "missing.csv")).run()
    assert not at.exception
    assert any("file not found" in e.value for e in at.error)


@pytest.fixture
def shipped_study(toy_study, monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOBUILD_SD_STUDY_DIR", str(toy_study / "study"))
    monkeypatch.setenv("AUTOBUILD_SD_SMALL_MODEL", str(toy_study / "model"))
    monkeypatch.setenv("AUTOBUILD_INPAINT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("AUTOBUILD_FID_CACHE", str(tmp_path / "fid-cache"))
    monkeypatch.delenv("AUTOBUILD_SD_MODEL_DIR", raising=False)
    return toy_study


@pytest.mark.slow
def test_opens_on_the_study_grid_summary_and_chart(shipped_study):
    at = page()
    assert not at.exception
    results = pd.read_csv(shipped_study / "study" / "results.csv")
    chosen = at.multiselect(key="study_sets").value
    assert set(chosen) == {"ES 1", "AutoBuild 1", "Full network"}
    ab = results[results["name"] == "ab-1"].iloc[0]
    assert (f"**ab-1**  \nFID {ab['fid']:.2f}  \nKID {ab['kid']:.4f} ± {ab['kid_std']:.4f} · AutoBuild 1"
            in texts(at))
    summary = at.dataframe[0].value
    assert list(summary["set"])[:3] == ["Random 10", "ES 1", "AutoBuild 1"]
    assert summary.set_index("set").loc["AutoBuild 1", "paper_average_fid"] == 10.13  # the paper's figure beside
    assert len(at.get("plotly_chart")) == 3  # FID and KID per architecture, parameters / time
    assert any("not Stable Diffusion v1.4" in w.value for w in at.warning)
    conclusion = json.loads((shipped_study / "study" / "conclusion.json").read_text())
    assert any(conclusion["sentence"] in i.value for i in at.info)
    assert any("nearest-neighbour" in c.value for c in at.caption)
    # one sheet per architecture (all at a glance), then 4 images: original, masked and the three chosen
    # architectures in each row.
    assert len(at.get("image")) == len(results) + 4 * 5
    assert any(e.label.startswith(f"All {len(results)} architectures") for e in at.expander)


def wait_for(at: AppTest, done, timeout: float = 120) -> AppTest:
    """Rerun the page (as its live progress fragment does) until ``done(at)``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.3)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if done(at):
            return at
    raise AssertionError(f"timed out; errors: {[e.value for e in at.error]}")


@pytest.mark.slow
def test_study_inpaints_the_shown_images_with_another_architecture(shipped_study):
    at = page()
    at.text_input(key="study_spec").set_value('{"mid": "R--"}')
    at.button[[b.label for b in at.button].index("Inpaint the shown images")].click().run()
    assert not at.exception and not at.error
    wait_for(at, lambda a: "new run" in texts(a))
    sheets = len(pd.read_csv(shipped_study / "study" / "results.csv"))
    assert len(at.get("image")) == sheets + 4 * 6
    assert any("Inpainted 4 image(s)" in s.value for s in at.success)


@pytest.mark.slow
def test_study_inpainting_shows_progress_and_cancel_stops_it(shipped_study, tmp_path, monkeypatch):
    # The same study asking for 100,000 denoising steps: minutes of real work unless Cancel stops it.
    study = tmp_path / "slow-study"
    shutil.copytree(shipped_study / "study", study)
    record = json.loads((study / "study.json").read_text())
    record["config"]["steps"] = 100_000
    (study / "study.json").write_text(json.dumps(record))
    monkeypatch.setenv("AUTOBUILD_SD_STUDY_DIR", str(study))
    at = page()
    at.button[[b.label for b in at.button].index("Inpaint the shown images")].click().run()
    assert not at.exception
    assert at.button(key="cancel_inpaint") and at.get("progress")
    assert [b for b in at.button if b.label == "Inpaint the shown images"][0].disabled  # one at a time
    at.button(key="cancel_inpaint").click().run()
    wait_for(at, lambda a: any("was cancelled after" in i.value for i in a.info), timeout=60)
    assert "new run" not in texts(at) and "study_extra" not in at.session_state
    assert len(at.get("image")) == len(pd.read_csv(study / "results.csv")) + 4 * 5


def test_study_spec_errors_name_the_field(shipped_study):
    at = page()
    at.text_input(key="study_spec").set_value('{"mid": "X"}')
    at.button[[b.label for b in at.button].index("Inpaint the shown images")].click().run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith("the spec field") and "--arch" not in at.error[0].value


@pytest.mark.slow
def test_generate_runs_in_the_background_and_the_new_folder_appears(outputs, tiny_model_dir):
    at = page()
    at.text_input(key="inpaint_model_dir").set_value(str(tiny_model_dir)).run()
    at.text_area(key="inpaint_specs").set_value('{"up3":"R-R-R-"}')
    at.number_input(key="inpaint_steps").set_value(2)
    assert at.selectbox(key="inpaint_size").value == 64  # the tiny model's native size is the default
    next(b for b in at.button if b.label == "Generate").click().run()
    assert not at.exception and not at.error
    wait_for(at, lambda a: any("Wrote" in s.value for s in a.success))
    written = [p for p in outputs.iterdir() if p.is_dir() and (p / "arch.json").is_file()
               and json.loads((p / "arch.json").read_text())["model_dir"] == str(tiny_model_dir)]
    originals = list((outputs / "_inputs" / "originals").glob("*.png"))
    assert len(written) == 1 and len(list(written[0].glob("*.png"))) == len(originals)
    assert not [p for p in outputs.iterdir() if p.name.startswith(".partial")]


@pytest.mark.slow
def test_opens_on_the_shipped_study_with_every_default_column(monkeypatch, tmp_path):
    monkeypatch.delenv("AUTOBUILD_SD_STUDY_DIR", raising=False)
    monkeypatch.delenv("AUTOBUILD_SD_SMALL_MODEL", raising=False)
    monkeypatch.setenv("AUTOBUILD_INPAINT_DIR", str(tmp_path / "outputs"))
    at = page()
    assert not at.exception
    results = pd.read_csv(Path(__file__).resolve().parents[2] / "assets" / "sd_study" / "results.csv")
    chosen = at.multiselect(key="study_sets").value
    columns = int(results["set"].isin(chosen).sum())  # AutoBuild's and exhaustive search's picks, the full network
    assert columns == 9
    # a sheet per architecture, then 6 rows of original, masked and every chosen architecture
    assert len(at.get("image")) == len(results) + 6 * (2 + columns)
    assert any("beat" in i.value for i in at.info)  # the study's answer


@pytest.mark.slow
def test_a_damaged_image_in_the_study_is_one_line_not_a_traceback(shipped_study, tmp_path, monkeypatch):
    study = tmp_path / "damaged-study"
    shutil.copytree(shipped_study / "study", study)
    next((study / "ab-1").glob("*.png")).write_bytes(b"not a png")
    monkeypatch.setenv("AUTOBUILD_SD_STUDY_DIR", str(study))
    at = page()
    assert not at.exception
    # said where the image is, in the sheet and in the grid; the rest of the page still draws
    assert sum("cannot read image" in c.value and "ab-1" in c.value for c in at.caption) == 2
    assert not at.error and len(at.get("image")) > 10
