"""What the AppTest files share: where the app is, and how to wait for its background jobs."""
from __future__ import annotations

import re
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
CORA = ROOT / "sample_data" / "nasbench-graph_cora_300.csv"
TIMEOUT = 180


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def errors(at: AppTest) -> list[str]:
    """The error messages, Markdown escapes (``\\_``) undone."""
    return [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]


def wait_for(at: AppTest, done, timeout: float = TIMEOUT) -> AppTest:
    """Rerun the page (as the live fragment would) until ``done(at)`` or the timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.3)
        at.run()
        assert_clean(at)
        if done(at):
            return at
    raise AssertionError(f"timed out; errors: {errors(at)}")
