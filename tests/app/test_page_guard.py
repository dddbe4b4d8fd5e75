"""Every page runs inside app/page_guard.py (app/main.py): an uncaught InputError is one st.error line,
any other exception is a logged traceback plus one "internal error" line, and Streamlit's own control
flow (st.rerun, st.stop, st.switch_page) passes through untouched."""
from __future__ import annotations

import logging

import pytest
from streamlit.testing.v1 import AppTest

from core.errors import MAX_MESSAGE_CHARS, InputError
from tests.app.apptest import MAIN, TIMEOUT, assert_clean, errors

#: A navigation of test pages, run through the guard exactly as app/main.py runs its pages.
SCRIPT = '''
import streamlit as st

from app.page_guard import guard_fragment, run_page
from core.errors import InputError


def bad_input():
    st.title("Bad input")
    raise InputError("table.csv row 3, column 'acc': 'x' is not a number")


def bug():
    st.title("Bug")
    {}["missing"]


def reruns():
    st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    if st.session_state["runs"] == 1:
        st.rerun()
    st.markdown(f"ran {st.session_state['runs']} times")


def stops():
    st.markdown("before the stop")
    st.stop()
    st.markdown("after the stop")


def landing():
    st.markdown("landed")


def switches():
    st.switch_page(PAGES["landing"])


@st.fragment
@guard_fragment("the test fragment")
def failing_fragment():
    st.markdown("fragment ran")
    if st.button("bug", key="fragment_bug"):
        {}["fragment bug"]
    if st.button("input", key="fragment_input"):
        raise InputError("fragment input " + "x" * 5000)


def fragment():
    st.title("Fragment")
    failing_fragment()
    st.markdown("after the fragment")


PAGES = {fn.__name__: st.Page(fn, url_path=fn.__name__, title=fn.__name__)
         for fn in (bad_input, bug, reruns, stops, landing, switches, fragment)}
first = PAGES[st.session_state["scenario"]]
page = st.navigation([first] + [p for p in PAGES.values() if p is not first])
run_page(page)
st.caption("after the page")
'''


def run_scenario(scenario: str) -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=TIMEOUT)
    at.session_state["scenario"] = scenario
    return at.run()


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_an_uncaught_input_error_is_one_line_and_the_app_goes_on():
    at = run_scenario("bad_input")
    assert_clean(at)
    assert errors(at) == ["table.csv row 3, column 'acc': 'x' is not a number"]
    assert [c.value for c in at.caption] == ["after the page"]


def test_a_bug_is_logged_with_its_traceback_and_shown_as_one_internal_error_line(caplog):
    with caplog.at_level(logging.ERROR, logger="autobuild.app"):
        at = run_scenario("bug")
    assert_clean(at)
    (shown,) = errors(at)
    assert shown.startswith("internal error in the bug page (a bug, not a problem with your input): KeyError")
    assert "\n" not in shown and "Traceback" not in shown
    logged = [r for r in caplog.records if r.name == "autobuild.app"]
    assert logged and logged[0].exc_info and logged[0].exc_info[0] is KeyError


def test_a_fragment_error_goes_through_the_same_guard(caplog):
    """A widget inside a fragment reruns only the fragment, outside run_page, where Streamlit would draw
    the exception as a traceback; guard_fragment shows one line and logs a bug's traceback."""
    at = run_scenario("fragment")
    assert_clean(at)
    assert "after the fragment" in markdown(at) and not errors(at)
    with caplog.at_level(logging.ERROR, logger="autobuild.app"):
        at.button(key="fragment_bug").click().run()
    assert_clean(at)
    (shown,) = errors(at)
    assert shown.startswith("internal error in the test fragment (a bug, not a problem with your input): KeyError")
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records if r.name == "autobuild.app")
    at.run()  # the buttons drawn again (the failed run stopped before the second)
    at.button(key="fragment_input").click().run()
    assert_clean(at)
    (shown,) = errors(at)
    assert shown.startswith("fragment input xxx") and len(shown) <= MAX_MESSAGE_CHARS + 20 and "characters" in shown


def test_st_rerun_passes_through_the_guard():
    at = run_scenario("reruns")
    assert_clean(at)
    assert not errors(at) and "ran 2 times" in markdown(at)


def test_st_stop_passes_through_the_guard():
    at = run_scenario("stops")
    assert_clean(at)
    assert not errors(at) and markdown(at) == ["before the stop"]
    assert not at.caption  # stopped: nothing after the page ran either


def test_st_switch_page_passes_through_the_guard():
    at = run_scenario("switches")
    assert_clean(at)
    assert not errors(at) and markdown(at) == ["landed"]


@pytest.mark.parametrize("raised, shown", [
    (RuntimeError("a bug in a page"), "internal error in the Home page (a bug, not a problem with your input): "
                                      "RuntimeError: a bug in a page"),
    (InputError("spaces.json: malformed JSON (at char 3)"),
     "spaces.json: malformed JSON (at char 3)"),
])
def test_the_dashboard_runs_its_pages_through_the_guard(monkeypatch, tmp_path, raised, shown):
    import app.run_cache

    def broken():
        raise raised

    monkeypatch.setenv("AUTOBUILD_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(app.run_cache, "runs", broken)  # the Home page's status cards list the saved runs
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert errors(at)[-1].startswith(shown)
    assert at.title and at.title[0].value == "AutoBuild Studio"  # the page up to the error is shown
