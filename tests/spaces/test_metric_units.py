from core.spaces import get_space


def test_spaces_declare_the_units_of_metrics_whose_names_do_not_say_them():
    graph = get_space("nasbench-graph")
    assert [graph.metric_label(c) for c in ("latency", "para", "valid_perf", "true_latency")] == [
        "latency (s)", "para (M)", "valid_perf", "true_latency (s)"]
    assert set(graph.metric_units) <= set(graph.metrics_table("cora").columns)
    nb201 = get_space("nasbench201")
    assert nb201.metric_label("baseline_accuracy") == "baseline_accuracy (%)"
    assert set(nb201.metric_units) == set(nb201.metrics_table().columns) - {"arch"}
    assert get_space("graph").metric_label("latency") == "latency"  # a user space declares nothing
