"""One-line messages for the dashboard: a bug's line (its traceback goes to the log) and user text made safe
for Streamlit's Markdown."""
from __future__ import annotations

import logging
import re

#: Where the dashboard logs bugs with their tracebacks (the page shows one line).
LOG = logging.getLogger("autobuild.app")


def internal_error_line(what: str, err: BaseException) -> str:
    """The one line shown for a bug (not the user's fault); the caller logs the traceback with ``LOG``."""
    return (f"internal error in {what} (a bug, not a problem with your input): {type(err).__name__}: "
            f"{one_line(err)}; the traceback is in the server log")


def one_line(err: BaseException) -> str:
    """The first line of an error message (InputError messages are one line already), escaped for
    ``st.error``'s Markdown: user text such as ``__import__`` or ``a*b`` is shown as written."""
    text = str(err).strip()
    return escape_markdown(text.splitlines()[0]) if text else type(err).__name__


def escape_markdown(text: str) -> str:
    """``text`` with the characters Streamlit's Markdown would act on backslash-escaped."""
    return re.sub(r"([\\`*_~$\[\]<>])", r"\\\1", text)


def safe_run_name(text: str) -> str:
    """A run directory name: letters, digits, ``.``, ``_`` and ``-`` only."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip(".-")
    return name[:80]
