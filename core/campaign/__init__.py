"""A campaign: AutoBuild's loop (retrain -> propose -> evaluate -> append) as a directory that resumes.

- :mod:`~core.campaign.campaign`: :class:`~core.campaign.campaign.Campaign`, where a round happens;
- :mod:`~core.campaign.files`: the directory on disk (settings, table, rounds, evaluations, log, lock);
- :mod:`~core.campaign.status`: where a campaign stands, per round;
- :mod:`~core.campaign.names`: campaign directory names, claimed with one ``mkdir``;
- :mod:`~core.campaign.removal`: deleting a campaign that nobody is using.

May import everything below it (search, evaluators, runs, tables, targets, spaces); only commands and the
app import it.
"""
