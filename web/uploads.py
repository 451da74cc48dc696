"""Import an uploaded file with the CLI's importer: the one path the Data page and the API share.

The file is saved in a private temporary folder under a generated name (`upload` and the
original suffix when it is one the importers know, so XLSX is read as XLSX): the name the client
sent is never used as a path. That name, truncated to MAX_NAME characters, is kept as metadata:
problems are reported against it and the import history and audit log show it. A successful import is written to the audit log; a rejected one writes nothing at all, so
the store is exactly as it was.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import sqlite_utils
from werkzeug.datastructures import FileStorage

from caremarket import accounts
from caremarket.importers import ImportSummary, import_file

MAX_NAME = 200  # characters of the client's file name kept as metadata
SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm")  # what the importers read by name


def upload_name(upload: FileStorage) -> str:
    """The file's own name, without any client folder ('C:\\\\data\\\\x.csv' -> 'x.csv'), with
    control characters removed and truncated to MAX_NAME characters (metadata only)."""
    name = re.split(r"[\\\\/]", upload.filename or "")[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    if len(name) > MAX_NAME:
        suffix = Path(name).suffix if len(Path(name).suffix) <= 10 else ""
        name = name[: MAX_NAME - len(suffix) - 1] + "…" + suffix
    return name


def stored_name(name: str) -> str:
    """The generated name a file is saved under: 'upload' and a known suffix, nothing else."""
    suffix = Path(name).suffix.lower()
    return "upload" + (suffix if suffix in SUFFIXES else ".csv")


def import_upload(db: sqlite_utils.Database, kind: str, upload: FileStorage,
                  user: str, sheet: str | None = None) -> ImportSummary:
    """Import `upload` as `kind` (of a workbook, `sheet`, else its first): every row or none
    (ImportRejected, nothing written)."""
    name = upload_name(upload) or "upload"
    with tempfile.TemporaryDirectory(prefix="caremarket-upload-") as folder:
        path = Path(folder) / stored_name(name)
        try:
            upload.save(path)
        finally:
            upload.close()  # a large upload is spooled to a temporary file: release it now
        summary = import_file(db, kind, path, user=user, display_name=name, sheet=sheet)
    with db.atomic():
        accounts.audit(db, user, "import", kind, {"file": name, "import_id": summary.import_id,
                                                  "records": summary.records,
                                                  "by_type": summary.by_type})
    return summary
