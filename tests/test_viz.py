"""Figures: what a user must be able to see is drawn where it can be seen."""
import html as html_module
import re

import numpy as np
import pandas as pd

from core import viz


def test_built_stars_are_drawn_above_a_webgl_cloud():
    """Plotly paints WebGL traces above SVG ones: stars as SVG hid under 26,206 grey points."""
    rng = np.random.default_rng(0)
    cloud = pd.DataFrame({"latency": rng.random(3000), "acc": rng.random(3000), "arch": ["a"] * 3000})
    fig = viz.built_scatter(cloud, cloud.head(3), "latency", "acc")
    assert fig.data[0].type == "scattergl"
    stars = next(t for t in fig.data if t.name == "built")
    assert stars.type == "scattergl" and stars.marker.symbol == "star" and fig.data[-1] is stars
    small = viz.built_scatter(cloud.head(50), cloud.head(3), "latency", "acc")
    assert {t.type for t in small.data} == {"scatter"}  # a small cloud stays SVG throughout


def test_pareto_front_keeps_exactly_the_non_dominated_rows():
    frame = pd.DataFrame({"lat": [1.0, 2.0, 3.0, 2.0, 4.0, np.inf],
                          "acc": [0.5, 0.7, 0.9, 0.6, 0.8, 1.0]})
    front = viz.pareto_front(frame, "lat", "acc")
    # (2, 0.6) is dominated by (2, 0.7), (4, 0.8) by (3, 0.9); the infinite latency is no candidate.
    assert front.index.tolist() == [0, 1, 2]
    flipped = viz.pareto_front(frame, "lat", "acc", minimize_x=False, maximize_y=False)
    assert flipped.index.tolist() == [0, 3, 4]  # the opposite corner: (2, 0.6) is now on the front
    assert viz.pareto_front(frame.iloc[0:0], "lat", "acc").empty


def test_score_colours_span_the_scale_and_clip_outside_it():
    low, mid, high, over, nan = viz.score_colours([0.0, 0.5, 1.0, 5.0, float("nan")], 0.0, 1.0)
    assert low != mid != high and over == high and nan == low
    assert all(c.startswith("rgb") for c in (low, mid, high))


def test_network_html_is_offline_and_shows_every_node_with_its_module():
    html = viz.architecture_network_page(["input", "conv", "relu"], [(0, 1), (1, 2)], [0.1, -0.4, float("nan")],
                                         ["input", "conv <- input", "relu <- conv"], hop=1, title="best <b>")
    assert "cdn.jsdelivr.net" not in html and 'src="http' not in html  # nothing fetched at run time
    assert '"title": "node 1: conv\\nmodule (hop 1): conv \\u003c- input\\nscore: -0.400"' in html
    assert '"title": "node 2: relu"}' in html  # a NaN score: no module or number shown
    assert "best &lt;b&gt;" in html and "module score at hop 1" in html  # the legend, its title escaped
    assert "#0e1117" in viz.architecture_network_page(["a"], [], [0.0], ["a"], hop=0, dark=True)


def test_network_text_never_reaches_html_and_the_page_is_sandboxed():
    """A label or description holding markup (pyvis turns a tooltip with "href" into HTML) stays text:
    no tooltip reaches pyvis, the tooltips are script-safe JSON, and the page runs sandboxed under a
    CSP that allows only its own scripts."""
    evil = "<a href=x><img src=x onerror=alert(1)></script>"
    page = viz.architecture_network_page([evil, "b"], [(0, 1)], [0.1, 0.2], [evil, "b <- " + evil], hop=1,
                                         title=evil)
    assert "<img src=x" not in page and "</script>\"" not in page
    assert "\\u003ca href=x\\u003e\\u003cimg src=x onerror=alert(1)\\u003e\\u003c/script\\u003e" in page
    assert "popup.innerHTML" not in page  # pyvis's HTML-tooltip template was not used
    wrapped = viz.architecture_network_html([evil], [], [0.1], [evil], hop=0)
    frame = re.search(r"<iframe ([^>]*)>", wrapped).group(1)
    assert "sandbox='allow-scripts'" in frame and "allow-same-origin" not in frame
    inner = html_module.unescape(re.search(r'srcdoc="([^"]*)"', wrapped).group(1))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', inner).group(1)
    assert "default-src 'none'" in html_module.unescape(csp) and "unsafe-inline" not in csp.split("style-src")[0]


def test_summary_figures_hold_the_values_they_are_given():
    hist = viz.target_histogram([1.0, 2.0, 2.5], "acc", excluded=2)
    assert list(hist.data[0].x) == [1.0, 2.0, 2.5] and "(2 rows excluded)" in hist.layout.title.text
    bars = viz.hop_spearman_bars([0.5, None, -0.2])
    assert list(bars.data[0].text) == ["0.50", "n/a", "-0.20"]
    assert bars.data[0].marker.color[2] == viz.HIGHLIGHT != bars.data[0].marker.color[0]  # a hop that fails
    history = [{"epoch": 1, "loss": 2.0, "mse": 1.5, "rank": 0.5, "val_spearman": None},
               {"epoch": 2, "loss": 1.0, "mse": 0.8, "rank": 0.2, "val_spearman": 0.4}]
    curves = viz.training_curves(history)
    assert [t.name for t in curves.data] == ["loss", "MSE", "rank term", "val Spearman"]
    assert list(curves.data[-1].y) == [0.4]  # epochs without a validation pass are not drawn


def test_module_scatter_plots_the_estimate_with_its_error_bar_against_the_tables_mean():
    ranking = pd.DataFrame({"signature": ["a", "b"], "description": ["<b>a</b>", "b"], "architectures": [1, 9],
                            "estimate": [0.7, 0.8], "estimate_se": [0.05, 0.01], "mean_score": [1.0, -1.0],
                            "mean_target": [0.9, 0.75]})
    trace = viz.module_scatter(ranking, selected="b").data[0]
    assert list(trace.x) == [0.7, 0.8] and list(trace.error_x.array) == [0.05, 0.01] and list(trace.y) == [0.9, 0.75]
    assert trace.customdata[0][1] == "&lt;b&gt;a&lt;/b&gt;"  # user text escaped in hover text
    no_targets = viz.module_scatter(ranking.assign(mean_target=np.nan))
    assert list(no_targets.data[0].y) == [1.0, -1.0] and "no targets" in no_targets.layout.yaxis.title.text
