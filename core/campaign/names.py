"""Campaign directory names, claimed with one ``mkdir`` before anything is written (the run names'
claim, core/runs/run.py)."""
from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.runs.names import RunNameTaken, claim_run_dir


class CampaignNameTaken(InputError):
    """A campaign directory name already used by a campaign or claimed by one being created."""


def claim_campaign_dir(root: str | Path, name: str, *, unique: bool = False) -> Path:
    """Reserve ``root/name`` for a new campaign with one ``mkdir`` (the run names' claim,
    :func:`core.runs.names.claim_run_dir`): granted to exactly one caller, even across processes.

    ``unique``: on a clash take ``name-2``, ``name-3``, ... (automatic, timestamped names, which two
    campaigns started in the same second share); else raise :class:`CampaignNameTaken`.
    """
    root = Path(root)
    try:
        return claim_run_dir(root, name, unique=unique)
    except RunNameTaken:
        raise CampaignNameTaken(f"campaign directory {root / name} already exists (or another campaign is "
                                "being created there); choose another name") from None
    except OSError as err:  # a file where a folder should be, no permission
        raise InputError(f"cannot create campaign directory {root / name}: {err.strerror or err}") from None
