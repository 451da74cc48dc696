"""Import an uploaded file with the CLI's importer: the one path the Data page and the API share.

The file is saved under a private temporary folder (a safe name, the original suffix so XLSX is
read as XLSX) and imported as one transaction; problems are reported against the name the user
knows. A successful import is written to the audit log; a rejected one writes nothing at all, so
the store is exactly as it was.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import sqlite_utils
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from caremarket import accounts
from caremarket.importers import ImportSummary, import_file


def upload_name(upload: FileStorage) -> str:
    """The file's own name, without any client folder ('C:\\\\data\\\\x.csv' -> 'x.csv')."""
    return re.split(r"[\\\\/]", upload.filename or "")[-1].strip()


def import_upload(db: sqlite_utils.Database, kind: str, upload: FileStorage,
                  user: str) -> ImportSummary:
    """Import `upload` as `kind`: every row or none (ImportRejected, nothing written)."""
    name = upload_name(upload) or "upload"
    with tempfile.TemporaryDirectory(prefix="caremarket-upload-") as folder:
        path = Path(folder) / (secure_filename(name) or "upload")
        if not path.suffix:
            path = path.with_suffix(".csv")
        upload.save(path)
        summary = import_file(db, kind, path, user=user, display_name=name)
    with db.atomic():
        accounts.audit(db, user, "import", kind, {"file": name, "import_id": summary.import_id,
                                                  "records": summary.records,
                                                  "by_type": summary.by_type})
    return summary
