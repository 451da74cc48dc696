"""Load the embedded cases into a store through the ordinary importers.

`data/` builds the frames and writes them as import files (it imports nothing of the
application); these functions import those files, so the sample market and the Devon case go
through the same checks as a council's own files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import sqlite_utils

from caremarket.importers import import_file
from caremarket.reports import add_sample_msp, add_sample_report
from data.devon import ORDER as DEVON_ORDER
from data.devon import write_devon
from data.generate import ORDER, write_sample


def load_sample(db: sqlite_utils.Database, seed: int = 42, user: str = "sample",
                report: bool = True) -> list:
    """Import the sample market into `db`; return the import summaries.

    With `report`, also save the sample scenarios and weekly fee-impact report definition and
    run that report once, so a new user sees a report at once, and the Market Sustainability
    Plan evidence pack's definition (caremarket.reports).
    """
    with tempfile.TemporaryDirectory(prefix="caremarket-sample-") as tmp:
        paths = write_sample(tmp, seed)
        summaries = [import_file(db, kind, paths[kind], user=user,
                                 display_name=f"sample/{paths[kind].name}")
                     for kind in ORDER]
    if report:
        # the pack first: the weekly report's last scenario stays the latest saved (the one
        # the provider pages open with), and it has a run
        add_sample_msp(db, user)
        add_sample_report(db, user)
    return summaries


def load_devon(db: sqlite_utils.Database, source: str | Path, user: str = "devon") -> list:
    """Import the Devon case into `db` (zones, their boundaries, the 18 bases, the travel
    matrix, the EX/PL/TQ postcodes and the care homes); return the import summaries."""
    with tempfile.TemporaryDirectory(prefix="caremarket-devon-") as tmp:
        paths = write_devon(source, tmp)
        return [import_file(db, kind, paths[kind], user=user,
                            display_name=Path(paths[kind]).name)
                for kind in DEVON_ORDER]
