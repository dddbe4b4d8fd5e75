"""Figures for the dashboard and notebooks: plotly figures and pyvis HTML.

Every function here *returns* an object (a ``plotly.graph_objects.Figure`` or an HTML string) and
draws nothing, so the same figures work in Streamlit, Jupyter and a static report. Figures leave
colours of the page (background, fonts) to the caller's theme, so they read in light and dark mode;
the data colours used here are chosen to be visible on both.

pyvis (no release since 2023) sits behind one small adapter, :func:`_pyvis_html`: it always renders
with ``cdn_resources="in_line"`` (the JavaScript is embedded, so the graph works offline) and strips
the template's CDN links to Bootstrap, which nothing here needs.

User text in the graph (node labels, module descriptions, the title) is data, never markup
(core/safe_html.py): pyvis never sees a tooltip, because its template turns any tooltip containing
``href`` into HTML through ``innerHTML``; the tooltips are attached after drawing from
:func:`~core.safe_html.script_json`, and vis-network shows a string tooltip as plain text. The page
is returned inside :func:`~core.safe_html.sandboxed_page` (scripts only, no same origin, a CSP that
runs only the page's own scripts).
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from core.safe_html import escape_html, sandboxed_page, script_json

#: Sequential scale for scores: readable on white and on dark backgrounds, colour-blind safe.
SCORE_SCALE = "Viridis"
#: Highlight colour (built architectures, selected module) and the Pareto front.
HIGHLIGHT = "#EF553B"
FRONT = "#FFA15A"
#: Neutral colour for background points: mid grey reads on both themes.
MUTED = "#8c96a3"

_MARGIN = dict(l=10, r=10, t=40, b=10)


# ----------------------------------------------------------------------------- data page

def target_histogram(values: Sequence[float], expression: str, excluded: int = 0, bins: int = 40) -> go.Figure:
    """Histogram of the finite target values; the title says how many rows were excluded."""
    values = np.asarray(values, dtype=np.float64)
    fig = go.Figure(go.Histogram(x=values, nbinsx=bins, name="target", marker_line_width=0))
    note = f" ({excluded} rows excluded)" if excluded else ""
    fig.update_layout(title=f"Target: {expression}{note}", xaxis_title=expression, yaxis_title="architectures",
                      bargap=0.05, margin=_MARGIN, height=320, showlegend=False)
    return fig


# ----------------------------------------------------------------------------- train page

def training_curves(history: Sequence[dict]) -> go.Figure:
    """Training loss (total, MSE, rank term) and validation Spearman per epoch, on two panels."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "validation Spearman"),
                        horizontal_spacing=0.12)
    frame = pd.DataFrame(list(history))
    if len(frame):
        for column, name in (("loss", "loss"), ("mse", "MSE"), ("rank", "rank term")):
            if column in frame:
                fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[column], mode="lines", name=name), row=1, col=1)
        if "val_spearman" in frame:
            val = frame.dropna(subset=["val_spearman"])
            fig.add_trace(go.Scatter(x=val["epoch"], y=val["val_spearman"], mode="lines+markers",
                                     name="val Spearman"), row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(range=[-1, 1], row=1, col=2)
    fig.update_layout(margin=_MARGIN, height=300, legend=dict(orientation="h", y=-0.25))
    return fig


def hop_spearman_bars(values: Sequence[float | None]) -> go.Figure:
    """Spearman of each hop's graph-embedding L1 norm with the target (positive at every hop = the method works)."""
    vals = [float("nan") if v is None else float(v) for v in values]
    hops = [f"hop {h}" for h in range(len(vals))]
    colours = [HIGHLIGHT if (not math.isnan(v) and v <= 0) else "#636EFA" for v in vals]
    fig = go.Figure(go.Bar(x=hops, y=vals, marker_color=colours,
                           text=[("n/a" if math.isnan(v) else f"{v:.2f}") for v in vals], textposition="outside"))
    fig.update_layout(title="Embedding-norm Spearman with the target, per hop", yaxis=dict(range=[-1, 1.1]),
                      yaxis_title="Spearman", margin=_MARGIN, height=300, showlegend=False)
    return fig


# --------------------------------------------------------------------------- modules page

def feature_importance_bars(importance: pd.DataFrame) -> go.Figure:
    """The FE-MLP's 0-hop contribution of every feature value (``feature``, ``value``, ``importance``)."""
    frame = importance.copy()
    frame["value"] = frame["value"].astype(str)
    features = list(dict.fromkeys(frame["feature"]))
    fig = make_subplots(rows=1, cols=max(1, len(features)), subplot_titles=features, shared_yaxes=False)
    for i, feature in enumerate(features, start=1):
        part = frame[frame["feature"] == feature].sort_values("importance", ascending=False)
        fig.add_trace(go.Bar(x=part["value"], y=part["importance"], name=feature, marker_color="#636EFA",
                             hovertemplate=f"{escape_html(feature)}=%{{x}}<br>importance %{{y:.3f}}<extra></extra>"),
                      row=1, col=i)
    fig.update_layout(title="0-hop feature-value importance (FE-MLP output, |.|)", margin=dict(_MARGIN, t=70),
                      height=340, showlegend=False)
    fig.update_xaxes(type="category")
    return fig


def score_boxplot(nodes: pd.DataFrame, hop: int, by: str = "label", max_groups: int = 30) -> go.Figure:
    """Distribution of module scores at ``hop`` grouped by the root node's label (op or block type)."""
    part = nodes[nodes["hop"] == hop]
    order = part.groupby(by)["score"].median().sort_values(ascending=False).index[:max_groups]
    fig = go.Figure()
    for group in order:
        scores = part.loc[part[by] == group, "score"]
        fig.add_trace(go.Box(y=scores, name=str(group), boxpoints=False, marker_color="#636EFA",
                             line=dict(width=1.5)))
    fig.update_layout(title=f"Module scores at hop {hop} by {by}", yaxis_title="score (standardised)",
                      margin=_MARGIN, height=340, showlegend=False)
    return fig


def module_scatter(ranking: pd.DataFrame, selected: str | None = None) -> go.Figure:
    """Each module's estimated whole-space mean target (with its +-1 s.e. bar) vs the table's own mean target of
    the architectures holding it (vs its score when the table has no targets); ``customdata`` = signature.

    Points off the diagonal are where the model and the table disagree. Marker size grows with the number of
    architectures holding the module; the ``selected`` signature is drawn in the highlight colour.
    """
    frame = ranking.reset_index(drop=True)
    counts = frame["architectures"].to_numpy(dtype=float) if len(frame) else np.zeros(0)
    sizes = 6 + 14 * np.sqrt(counts / counts.max()) if len(counts) and counts.max() > 0 else 8
    colours = [HIGHLIGHT if s == selected else "#636EFA" for s in frame["signature"]]
    has_targets = len(frame) and np.isfinite(frame["mean_target"].to_numpy(dtype=float)).any()
    y, y_title = ((frame["mean_target"], "the table's mean target of architectures holding it") if has_targets
                  else (frame["mean_score"], "mean module score (no targets)"))
    fig = go.Figure(go.Scatter(
        x=frame["estimate"], y=y, mode="markers",
        error_x=dict(type="data", array=frame["estimate_se"], thickness=1, width=0, color="rgba(99,110,250,0.35)"),
        marker=dict(size=sizes, color=colours, opacity=0.8, line=dict(width=0)),
        # Plotly reads tags in hover text: user text is escaped (core/safe_html.py).
        customdata=np.stack([frame["signature"], frame["description"].map(escape_html), frame["architectures"],
                             frame["estimate_se"], frame["mean_score"]], axis=1)
        if len(frame) else None,
        hovertemplate="%{customdata[1]}<br>estimate %{x:.4g} ± %{customdata[3]:.2g}<br>score %{customdata[4]:.2f}"
                      "<br>y %{y:.4g}<br>in %{customdata[2]} architectures<extra></extra>",
    ))
    fig.update_layout(title="Estimated mean target vs the table's (click a point to inspect the module)",
                      xaxis_title="estimated mean target over the whole space (± 1 s.e.)", yaxis_title=y_title,
                      margin=_MARGIN, height=380, showlegend=False)
    return fig


def score_colours(scores: Sequence[float], vmin: float, vmax: float, scale: str = SCORE_SCALE) -> list[str]:
    """``rgb(...)`` colours of ``scores`` on ``scale`` between ``vmin`` and ``vmax``."""
    span = vmax - vmin if vmax > vmin else 1.0
    fractions = [min(1.0, max(0.0, (float(s) - vmin) / span)) if np.isfinite(s) else 0.0 for s in scores]
    return sample_colorscale(scale, fractions)


def architecture_network_html(labels: Sequence[str], edges: Iterable[tuple[int, int]], scores: Sequence[float],
                              descriptions: Sequence[str], hop: int, *, title: str = "",
                              dark: bool = False, height: int = 460,
                              vmin: float | None = None, vmax: float | None = None) -> str:
    """An interactive graph of one architecture, nodes coloured by their module score at ``hop``, as an
    HTML document to embed (``st.iframe``): :func:`architecture_network_page` in a sandboxed frame."""
    page = architecture_network_page(labels, edges, scores, descriptions, hop, title=title, dark=dark,
                                     height=height, vmin=vmin, vmax=vmax)
    return sandboxed_page(page, height=height + 10)


def architecture_network_page(labels: Sequence[str], edges: Iterable[tuple[int, int]], scores: Sequence[float],
                              descriptions: Sequence[str], hop: int, *, title: str = "",
                              dark: bool = False, height: int = 460,
                              vmin: float | None = None, vmax: float | None = None) -> str:
    """The graph page itself (self-contained HTML, scripts inline).

    ``labels``/``descriptions``/``scores`` have one entry per node (the node's own label, the
    description of its rooted ``hop``-hop module and its standardised score). Hovering a node shows the
    module and its score as plain text; a colour legend sits in the top-right corner. ``dark`` picks
    background and text colours for a dark page.
    """
    scores = [float(s) for s in scores]
    finite = [s for s in scores if math.isfinite(s)]
    lo = vmin if vmin is not None else (min(finite) if finite else 0.0)
    hi = vmax if vmax is not None else (max(finite) if finite else 1.0)
    if hi <= lo:
        hi = lo + 1e-9
    colours = score_colours(scores, lo, hi)
    background = "#0e1117" if dark else "#ffffff"
    text = "#fafafa" if dark else "#262730"
    edge_colour = "#9aa0a6" if dark else "#6b7280"
    nodes = []
    for i, (label, score, colour, description) in enumerate(zip(labels, scores, colours, descriptions)):
        tooltip = (f"node {i}: {label}\nmodule (hop {hop}): {description}\n"
                   f"score: {score:+.3f}" if math.isfinite(score) else f"node {i}: {label}")
        nodes.append(dict(id=i, label=str(label), tooltip=tooltip, color=colour))
    legend = _legend_html(lo, hi, hop, title, text, background)
    return _pyvis_html(nodes, list(edges), height=height, background=background, font_colour=text,
                       edge_colour=edge_colour, extra_body=legend)


def _legend_html(lo: float, hi: float, hop: int, title: str, text: str, background: str) -> str:
    stops = ", ".join(sample_colorscale(SCORE_SCALE, [i / 8 for i in range(9)]))
    caption = f"<div style='margin-bottom:4px'>{escape_html(title)}</div>" if title else ""
    return (
        f"<div id='ab-legend' style='position:absolute;top:8px;right:8px;z-index:10;padding:6px 8px;"
        f"font:12px sans-serif;color:{text};background:{background};opacity:0.92;border:1px solid #8c96a3;"
        f"border-radius:6px'>{caption}<div>module score at hop {hop}</div>"
        f"<div style='width:160px;height:10px;margin:4px 0;background:linear-gradient(to right, {stops})'></div>"
        f"<div style='display:flex;justify-content:space-between'><span>{lo:+.2f}</span>"
        f"<span>{hi:+.2f}</span></div><div style='margin-top:2px;opacity:0.8'>hover a node for its module</div></div>"
    )


def _pyvis_html(nodes: Sequence[dict[str, Any]], edges: Sequence[tuple[int, int]], *, height: int,
                background: str, font_colour: str, edge_colour: str, extra_body: str = "") -> str:
    """The one place that touches pyvis: a directed, left-to-right network as a self-contained HTML page."""
    from pyvis.network import Network

    net = Network(height=f"{height}px", width="100%", directed=True, bgcolor=background,
                  font_color=font_colour, cdn_resources="in_line")
    for node in nodes:
        # No title here: pyvis would render one containing "href" as HTML (see the module docstring).
        net.add_node(node["id"], label=node["label"], color=node["color"], shape="dot", size=18, borderWidth=1)
    for src, dst in edges:
        net.add_edge(int(src), int(dst), color=edge_colour, arrows="to")
    net.set_options("""{
      "layout": {"hierarchical": {"enabled": true, "direction": "LR", "sortMethod": "directed",
                                  "levelSeparation": 150, "nodeSpacing": 90}},
      "physics": {"enabled": false},
      "interaction": {"hover": true, "tooltipDelay": 80, "navigationButtons": false},
      "nodes": {"font": {"size": 16}},
      "edges": {"smooth": {"type": "cubicBezier", "forceDirection": "horizontal"}}
    }""")
    page = net.generate_html()
    # The template links Bootstrap from a CDN; offline it would only fail, and the graph does not use it.
    page = re.sub(r"<link[^>]*cdn\.jsdelivr\.net[^>]*>", "", page)
    page = re.sub(r"<script[^>]*src=\"https?://[^\"]*\"[^>]*>\s*</script>", "", page)
    page = page.replace("border: 1px solid lightgray;", "border: none;")
    style = (f"<style>html,body{{margin:0;background:{background};color:{font_colour};}}"
             f".card{{border:none;background:{background};position:relative;}}"
             f"div.vis-tooltip{{white-space:pre;font:12px monospace;}}</style>")
    page = page.replace("</head>", style + "</head>", 1)
    page = page.replace("<body>", "<body><div style='position:relative'>" + extra_body, 1)
    # Tooltips as plain strings (vis-network sets a string title with innerText), after drawGraph().
    tooltips = [{"id": node["id"], "title": str(node["tooltip"])} for node in nodes]
    page = page.replace("</body>", f"</div><script>nodes.update({script_json(tooltips)});</script></body>", 1)
    return page


# ----------------------------------------------------------------------------- build page

def pareto_front(frame: pd.DataFrame, x: str, y: str, minimize_x: bool = True, maximize_y: bool = True) -> pd.DataFrame:
    """The non-dominated rows of ``frame`` for objectives (``x``, ``y``), sorted by ``x``.

    A row is dominated when another row is at least as good in both and better in one.
    """
    data = frame[[x, y]].replace([np.inf, -np.inf], np.nan).dropna()
    if data.empty:
        return frame.iloc[0:0]
    xs = data[x].to_numpy(dtype=float) * (1 if minimize_x else -1)
    ys = data[y].to_numpy(dtype=float) * (-1 if maximize_y else 1)  # both now "smaller is better"
    order = np.lexsort((ys, xs))
    keep, best = [], math.inf
    for i in order:
        if ys[i] < best:
            keep.append(i)
            best = ys[i]
    front = frame.loc[data.index[keep]]
    return front.sort_values(x)


def built_scatter(background: pd.DataFrame, built: pd.DataFrame, x: str, y: str, *,
                  minimize_x: bool = True, maximize_y: bool = True, background_name: str = "space",
                  hover: str = "arch") -> go.Figure:
    """All candidate architectures in grey, the built ones highlighted, and the Pareto front of both.

    A large background is drawn with WebGL (``Scattergl``) to stay responsive. Plotly paints every
    WebGL trace above every SVG one whatever the trace order, so the front and the built stars then
    use WebGL too: as SVG they would sit under a cloud of 26,206 points with only their labels showing.
    """
    fig = go.Figure()
    trace = go.Scattergl if len(background) > 2000 else go.Scatter
    if len(background):
        fig.add_trace(trace(x=background[x], y=background[y], mode="markers", name=background_name,
                            marker=dict(color=MUTED, size=5, opacity=0.45),
                            text=background[hover].map(escape_html) if hover in background else None,
                            hovertemplate=f"%{{text}}<br>{x} %{{x:.4g}}<br>{y} %{{y:.4g}}<extra></extra>"))
    both = pd.concat([background[[x, y]], built[[x, y]]], ignore_index=True) if len(background) else built[[x, y]]
    front = pareto_front(both, x, y, minimize_x, maximize_y)
    if len(front):
        fig.add_trace(trace(x=front[x], y=front[y], mode="lines+markers", name="Pareto front",
                                 line=dict(color=FRONT, width=2, shape="hv"), marker=dict(size=6, color=FRONT)))
    if len(built):
        labels = [f"#{i + 1}" for i in range(len(built))]
        fig.add_trace(trace(x=built[x], y=built[y], mode="markers+text", name="built", text=labels,
                                 textposition="top center",
                                 customdata=built[hover].map(escape_html) if hover in built else None,
                                 marker=dict(color=HIGHLIGHT, size=14, symbol="star", line=dict(width=1, color="#333")),
                                 hovertemplate=f"%{{customdata}}<br>{x} %{{x:.4g}}<br>{y} %{{y:.4g}}<extra>built</extra>"))
    fig.update_layout(title=f"{y} vs {x}: built architectures and the Pareto front", xaxis_title=x, yaxis_title=y,
                      margin=_MARGIN, height=420, legend=dict(orientation="h", y=-0.18))
    return fig


__all__ = [
    "target_histogram", "training_curves", "hop_spearman_bars", "feature_importance_bars", "score_boxplot",
    "module_scatter", "score_colours", "architecture_network_html", "architecture_network_page", "pareto_front",
    "built_scatter",
]
