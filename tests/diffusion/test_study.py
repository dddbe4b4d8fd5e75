"""The SD study at toy size (random-weight toy model, 10 + 3 architectures, 3 images): it writes the table."""
import json

import pandas as pd
import pytest

from core.diffusion.small_model import TOY_CONFIG
from core.diffusion.study import inpaint_files, run_study
from core.diffusion.study_config import TOY_STUDY
from core.diffusion.study_report import export_study, load_study


@pytest.mark.slow
def test_toy_study_writes_the_table(toy_study):
    study = load_study(toy_study / "study")
    results, summary = study["results"], study["summary"]
    labels = TOY_STUDY.set_labels()
    assert list(summary["set"]) == [labels["random"], labels["es"], labels["autobuild"], labels["picked_random"],
                                    "Full network"]
    assert summary.set_index("set").loc[labels["random"], "architectures"] == 10
    assert results["arch"].nunique() >= 12 and (results["fid"] > 0).all() and (results["params"] > 0).all()
    # the summary is the per-set statistics of the results
    randoms = results[results["set"] == labels["random"]]
    assert summary.set_index("set").loc[labels["random"], "best_fid"] == pytest.approx(randoms["fid"].min())
    full = results[results["set"] == "Full network"]["params"].iloc[0]
    assert (results["params"] <= full).all()
    floor = study["noise_floor"]
    assert floor["seed noise (largest FID change from the seed alone)"] >= 0
    assert "not Stable Diffusion v1.4" in (toy_study / "study" / "README.md").read_text()
    record = json.loads((toy_study / "study" / "ab-1" / "fid.json").read_text())
    assert record["settings"]["steps"] == TOY_STUDY.steps and record["n_generated"] == TOY_STUDY.max_images


@pytest.mark.slow
def test_rerun_resumes_without_regenerating(toy_study):
    before = pd.read_csv(toy_study / "study" / "results.csv")
    stamp = (toy_study / "study" / "r10-02" / "fid.json").stat().st_mtime_ns
    from core.diffusion.small_model import load_model

    run_study(load_model(toy_study / "model"), toy_study / "study", TOY_STUDY, log=lambda line: None)
    assert (toy_study / "study" / "r10-02" / "fid.json").stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(pd.read_csv(toy_study / "study" / "results.csv"), before)


@pytest.mark.slow
def test_inpaint_files_with_any_architecture(toy_study):
    from core.diffusion.small_model import load_model

    inputs = toy_study / "study" / "_inputs"
    originals = sorted((inputs / "originals").glob("*.png"))[:2]
    masks = [inputs / "masks" / p.name for p in originals]
    images = inpaint_files(load_model(toy_study / "model"), '{"mid":"R--"}', originals, masks, steps=1)
    assert [im.size for im in images] == [(TOY_CONFIG.image_size,) * 2] * 2


def test_export_keeps_tables_and_the_first_images(toy_study, tmp_path):
    out = export_study(toy_study / "study", tmp_path / "shipped", images=2)
    shipped = load_study(out)
    pd.testing.assert_frame_equal(shipped["summary"], load_study(toy_study / "study")["summary"])
    assert len(list((out / "ab-1").glob("*.png"))) == 2 and (out / "ab-1" / "fid.json").is_file()
    assert not list(out.rglob("*.npy")) and not (out / "predictor").exists()
