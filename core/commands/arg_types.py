"""Argument types shared by the commands: a bad value is argparse's one-line usage error (exit code 2)."""
from __future__ import annotations

import argparse

#: Seeds go to numpy, torch and Python's random alike; numpy accepts 0..2**32-1.
MAX_SEED = 2**32 - 1


def seed(text: str) -> int:
    """A random seed: an integer in 0..2**32-1 (``--seed -1`` is refused here, not by numpy later)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed must be an integer, not {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed must be in 0..{MAX_SEED}, not {value}")
    return value


def _int_from(text: str, low: int, wanted: str) -> int:
    """``text`` as an integer >= ``low``; ``wanted`` names what was expected in the error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, not {text[:40]!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {wanted}, not {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _int_from(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return _int_from(text, 0, "a whole number >= 0")
