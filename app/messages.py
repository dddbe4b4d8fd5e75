"""One-line messages for the dashboard: a bug's line (its traceback goes to the log) and user text made safe
for Streamlit's Markdown."""
from __future__ import annotations

import logging
import re

from core.errors import MAX_MESSAGE_CHARS, message_line

#: Where the dashboard logs bugs with their tracebacks (the page shows one line).
LOG = logging.getLogger("autobuild.app")


def internal_error_line(what: str, err: BaseException) -> str:
    """The one line shown for a bug (not the user's fault); the caller logs the traceback with ``LOG``."""
    return (f"internal error in {what} (a bug, not a problem with your input): {type(err).__name__}: "
            f"{one_line(err, limit=200)}; the traceback is in the server log")


def one_line(err: BaseException, limit: int = MAX_MESSAGE_CHARS) -> str:
    """An error message as one short line (:func:`core.errors.message_line`; InputError messages are one
    already), escaped for ``st.error``'s Markdown: user text such as ``__import__`` or ``a*b`` is shown
    as written."""
    text = str(err).strip()
    return escape_markdown(message_line(text, limit=limit)) if text else type(err).__name__


def escape_markdown(text: str) -> str:
    """``text`` with the characters Streamlit's Markdown would act on backslash-escaped."""
    return re.sub(r"([\\`*_~$\[\]<>])", r"\\\1", text)


def safe_run_name(text: str) -> str:
    """A run directory name: letters, digits, ``.``, ``_`` and ``-`` only."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip(".-")
    return name[:80]
