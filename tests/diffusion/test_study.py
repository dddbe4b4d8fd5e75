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
    assert list(summary["set"]) == [labels["random"], labels["es"], labels["autobuild"], labels["matched_random"],
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
    # every architecture has a KID with its spread; the matched randoms remove as many blocks as the pick
    assert results["kid"].notna().all() and (results["kid_std"] >= 0).all()
    matched = results[results["set"] == labels["matched_random"]]
    pick = results[results["set"] == labels["autobuild"]]
    assert len(matched) == TOY_STUDY.n_pick * TOY_STUDY.matched_per_pick
    assert set(matched["removed"]) <= set(pick["removed"]) and not set(matched["arch"]) & set(pick["arch"])
    conclusion = study["conclusion"]
    assert conclusion["verdict"] in ("beats random", "worse than random", "no evidence either way")
    assert conclusion["fid"]["autobuild"] == pytest.approx(pick["fid"].mean())
    assert conclusion["sentence"] in (toy_study / "study" / "README.md").read_text()
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


def test_export_keeps_tables_and_images_of_every_photograph(toy_study, tmp_path):
    out = export_study(toy_study / "study", tmp_path / "shipped", images=2)
    shipped = load_study(out)
    pd.testing.assert_frame_equal(shipped["summary"], load_study(toy_study / "study")["summary"])
    assert shipped["conclusion"] == load_study(toy_study / "study")["conclusion"]
    stems = sorted(p.stem for p in (out / "ab-1").glob("*.png"))
    assert len(stems) == 2 and len({s.rpartition("_")[0] for s in stems}) == 2  # two photographs, not one
    assert (out / "ab-1" / "fid.json").is_file()
    assert not list(out.rglob("*.npy")) and not (out / "predictor").exists()


def test_conclusion_reads_a_clear_win_and_a_tie():
    from core.diffusion.study_report import conclude

    labels = TOY_STUDY.set_labels()
    rng = __import__("numpy").random.default_rng(0)
    randoms = [{"set": labels["random"], "fid": f, "kid": f / 100} for f in rng.uniform(20, 40, 10)]
    matched = [{"set": labels["matched_random"], "fid": 30.0, "kid": 0.3}]
    es = [{"set": labels["es"], "fid": 12.0, "kid": 0.12}]
    floor = {"seed noise (largest FID change from the seed alone)": 0.5}
    win = pd.DataFrame(randoms + matched + es + [{"set": labels["autobuild"], "fid": 10.0, "kid": 0.1}])
    verdict = conclude(win, floor, TOY_STUDY, draws=500)
    assert verdict["verdict"] == "beats random" and verdict["fid"]["p_random_as_good"] == 0.0
    assert verdict["fid"]["difference"] == pytest.approx(-20.0)
    middle = float(pd.DataFrame(randoms)["fid"].median())
    tie = pd.DataFrame(randoms + matched + es + [{"set": labels["autobuild"], "fid": middle, "kid": middle / 100}])
    assert conclude(tie, floor, TOY_STUDY, draws=500)["verdict"] == "no evidence either way"
    # beating random architectures of the space, but not those of the picks' size, is said as such
    picks = [{"set": labels["autobuild"], "fid": f, "kid": f / 100} for f in (10.0, 10.4)]
    same_size = [{"set": labels["matched_random"], "fid": f, "kid": f / 100} for f in (10.1, 10.3, 10.2)]
    sized = conclude(pd.DataFrame(randoms + same_size + es + picks), floor, TOY_STUDY, draws=500)
    assert sized["verdict"] == "beats random" and sized["size_matched"] == "no difference"
    assert "their advantage is that they remove few blocks" in sized["sentence"]


def test_the_shipped_study_opens_with_outputs_of_every_architecture():
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[2] / "assets" / "sd_study"
    study = load_study(shipped)
    assert study is not None and len(study["results"]) >= 20
    assert study["conclusion"]["sentence"] and study["study"]["protocol"]["size"] == 16
    for name in study["results"]["name"]:
        assert len(list((shipped / name).glob("*.png"))) == 16, name
