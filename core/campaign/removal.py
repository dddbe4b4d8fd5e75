"""Deleting a campaign directory: only one that opens as a campaign, and only while nobody holds its lock
(a round being proposed or evaluated, in this process or another)."""
from __future__ import annotations

import fcntl
from pathlib import Path

from core.campaign.files import CampaignDir
from core.errors import InputError
from core.files.directories import remove_directory

LOCK_FILE = ".lock"  # the file CampaignDir._locked holds while a step writes


def delete_campaign(path: str | Path) -> None:
    """Delete the campaign at ``path``; one-line InputError for anything else or a campaign in use."""
    path = Path(path)
    if path.is_symlink():
        raise InputError(f"{path} is a link, not a campaign directory; refusing to delete it")
    CampaignDir.open(path)  # raises "not a campaign directory" for anything else
    with open(path / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"campaign {path} is in use (a round is being proposed or evaluated); "
                             "stop it first") from None
        remove_directory(path)  # renamed away while still locked, so no step starts in between
