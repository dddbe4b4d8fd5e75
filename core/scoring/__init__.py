"""Module scores per hop and the ranking tables built from them (docs/design.md, section 2.7).

- :mod:`~core.scoring.modules`: node scores, module scores and per-hop rankings of a run;
- :mod:`~core.scoring.disagreement`: the modules two runs rank most differently.

May import: runs, predictor, graph, metrics, errors.
"""
