"""Campaign directory names, claimed with one ``mkdir`` before anything is written (the run names'
claim, core/runs/run.py), and the rule that keeps every other output out of a campaign directory.

Light on purpose (no torch, no searchers): every command that writes a file asks
:func:`refuse_inside_campaign` first."""
from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.runs.names import RunNameTaken, claim_run_dir


#: The file that makes a directory a campaign (core/campaign/files.py writes it).
CAMPAIGN_FILE = "campaign.json"


def campaign_containing(path: str | Path) -> Path | None:
    """The campaign directory ``path`` is, or lies inside (``..`` and links resolved), else None."""
    resolved = Path(path).expanduser().resolve(strict=False)
    for folder in (resolved, *resolved.parents):
        if (folder / CAMPAIGN_FILE).is_file():
            return folder
    return None


def refuse_inside_campaign(path: str | Path, flag: str = "--out") -> Path:
    """``path`` back, or one line when it is a campaign directory or lies inside one: a campaign's
    files are written only by the campaign (its table holds every evaluation; a proposals file
    written over it, or a run written over a round, would lose them)."""
    campaign = campaign_containing(path)
    if campaign is not None:
        raise InputError(f"{flag} {path} is inside campaign {campaign}; only the campaign writes there "
                         f"(choose a path outside it)")
    return Path(path)


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
