"""The Modules page's trust notes: a badge is about the score, and a collapsed hop's order still stands."""
from streamlit.testing.v1 import AppTest


def _notes(badge: str):
    import pandas as pd

    from app.views.modules import trust_notes

    held_out = 0.8 if badge == "reliable" else 0.2
    frame = pd.DataFrame({"hop": [0, 1], "heldout_norm_spearman": [held_out, 0.8], "member_agreement": [0.9, 0.9],
                          "collapsed": [badge == "collapsed", False], "reliable": [badge == "reliable", True],
                          "badge": [badge, "reliable"]})
    trust_notes(frame, 0)


def _run(badge: str) -> AppTest:
    at = AppTest.from_function(_notes, args=(badge,))
    at.run()
    assert not at.exception
    return at


def test_a_collapsed_hop_says_its_score_is_void_but_the_order_stands():
    at = _run("collapsed")
    assert any("hop 0 score: collapsed" in m.value and "hop 1 score: reliable" in m.value for m in at.markdown)
    warning = at.warning[0].value
    assert "score column says nothing" in warning and "order comes from the predictor's estimates" in warning


def test_weak_and_reliable_hops():
    assert "Hop 0's score is weak" in _run("weak").warning[0].value
    reliable = _run("reliable")
    assert not reliable.warning and any("Hop 0's score is reliable" in c.value for c in reliable.caption)
