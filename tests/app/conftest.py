"""Fixtures the AppTest files share (their helpers are in apptest.py)."""
from __future__ import annotations

import threading

import pytest

from tests.app.apptest import TIMEOUT


@pytest.fixture
def held_training(monkeypatch):
    """An event that holds every training the pages start after each epoch until the test sets it.

    A test that needs a training still running (to stop it, reload its page, or queue another behind it)
    gets one that stays running without training hundreds of epochs meanwhile: the training is real and only
    waits between epochs. The test presses Stop, then sets the event, and the training stops at the end of
    the epoch it was held after. Set at teardown too, so that a failing test leaves no thread waiting.
    """
    import core.workflow

    release = threading.Event()
    train = core.workflow.train_from_table

    def held(*args, progress=None, **options):
        def report(epoch_report):
            if progress is not None:
                progress(epoch_report)
            release.wait(timeout=TIMEOUT)

        return train(*args, progress=report, **options)

    monkeypatch.setattr(core.workflow, "train_from_table", held)
    yield release
    release.set()
