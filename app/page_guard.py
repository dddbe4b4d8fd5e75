"""The guard every page runs in: a user's mistake is one line, a bug is one line plus a logged traceback.

``app/main.py`` runs the page chosen by ``st.navigation`` through :func:`run_page`. An
:class:`~core.errors.InputError` that a page did not handle itself is shown as ``st.error`` with its one
line; any other exception is a bug: its traceback goes to the server log (``messages.LOG``) and the page
shows :func:`app.messages.internal_error_line`, never a traceback. Streamlit steers a script with
exceptions of its own, which must reach it untouched: ``st.rerun`` and ``st.switch_page`` raise
``RerunException``, ``st.stop`` ``StopException`` (both ``ScriptControlException``, a
``BaseException``), and a fragment whose error Streamlit has already shown raises
``FragmentHandledException`` (an ``Exception``); these are re-raised.
"""
from __future__ import annotations

import streamlit as st
from streamlit.errors import FragmentHandledException
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from app import messages
from core.errors import InputError

#: Exceptions that are Streamlit's control flow, not errors: always passed on.
STREAMLIT_CONTROL_FLOW: tuple[type[BaseException], ...] = (ScriptControlException, FragmentHandledException)


def run_page(page) -> None:
    """``page.run()`` (a page returned by ``st.navigation``), its uncaught errors shown in one line."""
    try:
        page.run()
    except STREAMLIT_CONTROL_FLOW:
        raise
    except InputError as err:
        st.error(messages.one_line(err))
    except Exception as err:  # a bug: logged with its traceback, one line on the page
        title = getattr(page, "title", "") or "this page"
        messages.LOG.exception("internal error on the %s page", title)
        st.error(messages.internal_error_line(f"the {title} page", err))
