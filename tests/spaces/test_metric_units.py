from pathlib import Path

from core.spaces import get_space

ROOT = Path(__file__).resolve().parents[2]


def test_spaces_declare_the_units_of_metrics_whose_names_do_not_say_them():
    graph = get_space("nasbench-graph")
    assert [graph.metric_label(c) for c in ("latency", "para", "valid_perf", "true_latency")] == [
        "latency (s)", "para (M)", "valid_perf", "true_latency (s)"]
    assert set(graph.metric_units) <= set(graph.metrics_table("cora").columns)
    nb201 = get_space("nasbench201")
    assert nb201.metric_label("baseline_accuracy") == "baseline_accuracy (%)"
    assert set(nb201.metric_units) == set(nb201.metrics_table().columns) - {"arch"}
    assert get_space("graph").metric_label("latency") == "latency"  # a user space declares nothing


def test_cli_status_shows_the_picks_metrics_with_units(tmp_path):
    from tests.test_cli import cli_in_process

    table = ROOT / "sample_data" / "nasbench-graph_cora_300.csv"
    assert cli_in_process("loop", "init", "--space", "nasbench-graph", "--dataset", "cora", "--table", table,
                          "--target", "valid_perf", "--out", tmp_path / "c").returncode == 0
    status = cli_in_process("loop", "status", "--campaign", tmp_path / "c")
    assert status.returncode == 0 and "latency (s) 0.00" in status.stdout and "para (M) " in status.stdout
