"""The guard every page runs in: a user's mistake is one line, a bug is one line plus a logged traceback.

``app/main.py`` runs the page chosen by ``st.navigation`` through :func:`run_page`. An
:class:`~core.errors.InputError` that a page did not handle itself is shown as ``st.error`` with its one
line; any other exception is a bug: its traceback goes to the server log (``messages.LOG``) and the page
shows :func:`app.messages.internal_error_line`, never a traceback. Streamlit steers a script with
exceptions of its own, which must reach it untouched: ``st.rerun`` and ``st.switch_page`` raise
``RerunException``, ``st.stop`` ``StopException`` (both ``ScriptControlException``, a
``BaseException``), and a fragment whose error Streamlit has already shown raises
``FragmentHandledException`` (an ``Exception``); these are re-raised. A fragment (``st.fragment``) reruns
on its own, outside :func:`run_page`, so its body is wrapped in the same guard by :func:`guard_fragment`.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator, ParamSpec

import streamlit as st
from streamlit.errors import FragmentHandledException
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from app import messages
from core.errors import InputError

P = ParamSpec("P")

#: Exceptions that are Streamlit's control flow, not errors: always passed on.
STREAMLIT_CONTROL_FLOW: tuple[type[BaseException], ...] = (ScriptControlException, FragmentHandledException)


def run_page(page) -> None:
    """``page.run()`` (a page returned by ``st.navigation``), its uncaught errors shown in one line."""
    title = getattr(page, "title", "") or "this page"
    with guarded(f"the {title} page"):
        page.run()


@contextlib.contextmanager
def guarded(what: str) -> Iterator[None]:
    """Run the block with the page's guard: Streamlit's control flow passes, an :class:`InputError` is
    one ``st.error`` line, a bug is logged with its traceback and shown as one line naming ``what``."""
    try:
        yield
    except STREAMLIT_CONTROL_FLOW:
        raise
    except InputError as err:
        st.error(messages.one_line(err))
    except Exception as err:  # a bug: logged with its traceback, one line on the page
        messages.LOG.exception("internal error in %s", what)
        st.error(messages.internal_error_line(what, err))


def guard_fragment(what: str) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Decorate a function *under* ``st.fragment`` so its errors meet the page's guard: Streamlit runs a
    fragment's reruns on their own and would draw an exception there as a traceback before
    :func:`run_page` could see it."""
    def decorate(body: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(body)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            with guarded(what):
                body(*args, **kwargs)
        return run
    return decorate
