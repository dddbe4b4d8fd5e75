"""Figures: what a user must be able to see is drawn where it can be seen."""
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
