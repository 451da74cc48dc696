"""Importers: read a file, validate every row, and write it to the store in one transaction.

Usable from Python (`import_file(db, "zones", path)`) and from the CLI
(`caremarket import zones path.csv`). Each import is all or nothing: the file is parsed and
checked completely before anything is written, and the writes run inside one transaction, so a
rejected file leaves the store exactly as it was. Rows are upserted by their id, so importing the
same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from caremarket import boundaries, undo
from caremarket.store import now
from market import fcoc, ranges
from market.entities import (
    CARE_HOME,
    FEE_RATE,
    HOMECARE_PROVIDER,
    SELF_FUNDER_FIGURE,
    SITE,
    TRAVEL,
    ZONE,
    Entity,
    fee_id,
)
from market.errors import MAX_PROBLEMS, ImportRejected, Problem, UnknownEntity
from market.parameters import RURALITY_CLASSES, ParameterSet
from market.ranges import CLEAR
from market.rurality import RUC2011, fold_rurality

# ---------------------------------------------------------------------------------------------
# Reading files


CHUNK_ROWS = 5000  # rows read and checked at a time: a large bad file never sits in memory
_BLOCK = 1 << 16


@dataclass
class Found:
    """Problems found while reading and checking a file: the first MAX_PROBLEMS and a count."""

    listed: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, problems: list[Problem], total: int | None = None) -> None:
        self.total += len(problems) if total is None else total
        self.listed.extend(problems[: max(0, MAX_PROBLEMS - len(self.listed))])

    def rejection(self, file: str) -> ImportRejected:
        listed = sorted(self.listed, key=lambda p: (p.row or 0, p.column or ""))
        return ImportRejected(listed, file, self.total)


@dataclass
class Table:
    """A file opened for import: its header and its rows, read CHUNK_ROWS at a time.

    Data rows are numbered as the importers' messages number them: the header is row 1 and the
    first data row row 2; wholly blank lines are skipped and not counted. `chunks` yields each
    chunk as a frame of text cells with the row number of each of its rows; a CSV row of more or
    fewer fields than the header is not in any chunk but reported to `found`."""

    name: str
    header: list[str]
    rows: Callable[[Found], Iterator[tuple[pd.DataFrame, np.ndarray]]]
    sheet: str | None = None  # the sheet read, for a workbook
    sheets: tuple[str, ...] = ()  # a workbook's sheets

    def chunks(self, found: Found) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        return self.rows(found)

    def about_sheets(self) -> str:
        """'sheet 'Homes' was read; the workbook's sheets: Homes, Notes', or '' for a CSV."""
        if not self.sheets:
            return ""
        return (f"sheet '{self.sheet}' was read; the workbook's sheets: "
                f"{', '.join(self.sheets)} (choose one with --sheet or the sheet field)")


def _header(cells: list[str], name: str) -> list[str]:
    header = [str(c).strip().lstrip("\ufeff") for c in cells]
    header = [c or f"Unnamed: {i}" for i, c in enumerate(header)]
    seen: dict[str, int] = {}
    problems = []
    for i, c in enumerate(header, start=1):
        if c in seen:
            problems.append(Problem(f"column '{c}' appears twice in the header (columns "
                                    f"{seen[c]} and {i})", name, 1, c))
        seen.setdefault(c, i)
    if problems:
        raise ImportRejected(problems, name)
    return header


def _frame(rows: list[list[str]], header: list[str]) -> pd.DataFrame:
    return _tidy(pd.DataFrame(rows, columns=header, dtype=object))


def read_table(path: str | Path, display_name: str | None = None,
               sheet: str | None = None) -> pd.DataFrame:
    """Read a CSV or XLSX file whole as text cells (blank cells as ''), or raise
    ImportRejected (every row of the wrong width listed, up to MAX_PROBLEMS, and counted)."""
    table = open_table(path, display_name, sheet)
    found = Found()
    frames = [chunk for chunk, _rows in table.chunks(found)]
    if found.total:
        raise found.rejection(table.name)
    if not frames:
        return pd.DataFrame(columns=table.header)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def open_table(path: str | Path, display_name: str | None = None,
               sheet: str | None = None) -> Table:
    """Open a CSV (UTF-8, a byte-order mark is fine) or XLSX file for import, or raise
    ImportRejected: an unreadable, empty, binary or undecodable file, a malformed CSV, a
    workbook without the sheet asked for; named with the file, never a traceback."""
    path = Path(path)
    name = display_name or path.name
    try:
        with path.open("rb") as f:
            head = f.read(_BLOCK)
            more = bool(f.read(1))
    except OSError as exc:
        raise ImportRejected([Problem(f"cannot read the file: {exc.strerror or exc}", name)],
                             name) from None
    if not head.strip() and not more:
        raise ImportRejected([Problem("the file is empty", name)], name)
    if head[:4] == b"PK\x03\x04" or path.suffix.lower() in (".xlsx", ".xlsm"):
        return _open_xlsx(path, name, sheet)
    if sheet:
        raise ImportRejected([Problem(f"a CSV file has no sheets, so sheet '{sheet}' cannot "
                                      "be read; leave the sheet empty", name)], name)
    _check_text(head, more, name)
    return _open_csv(path, name)


def _check_text(head: bytes, more: bool, name: str) -> None:
    """The first block of the file decodes as UTF-8 and has no NUL byte (the rest is checked
    as it is read)."""
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if not (more and exc.start >= len(head) - 3):  # not a character cut by the block end
            _not_utf8(head, exc.start, 0, name)
    if b"\x00" in head:
        raise ImportRejected([Problem("the file is binary, not CSV text", name)], name)


def _not_utf8(raw: bytes, start: int, lines_before: int, name: str):
    line = lines_before + raw[:start].count(b"\n") + 1
    raise ImportRejected([Problem(
        f"the file is not UTF-8 text (byte 0x{raw[start]:02x} at line {line}); "
        "save it as 'CSV UTF-8' and import again", name, line)], name) from None


def _text_lines(path: Path, name: str) -> Iterator[str]:
    """The file's lines as text, decoded as they are read (UTF-8, a BOM dropped)."""
    with path.open("rb") as f:
        for n, raw in enumerate(f):
            if b"\x00" in raw:
                raise ImportRejected([Problem("the file is binary, not CSV text", name, None)],
                                     name)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                _not_utf8(raw, exc.start, n, name)
            yield text.lstrip("\ufeff") if n == 0 else text


def _open_csv(path: Path, name: str) -> Table:
    reader = csv.reader(_text_lines(path, name), strict=True, skipinitialspace=True)

    def malformed(exc: csv.Error) -> ImportRejected:
        return ImportRejected([Problem(f"malformed CSV: {exc} (line {reader.line_num})", name,
                                       None)], name)

    try:
        cells = next((r for r in reader if any(c.strip() for c in r)), None)
    except csv.Error as exc:
        raise malformed(exc) from None
    if cells is None:
        raise ImportRejected([Problem("the file is empty", name)], name)
    header = _header(cells, name)
    width = len(header)

    def rows(found: Found) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        buf: list[list[str]] = []
        numbers: list[int] = []
        n = 1
        try:
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                n += 1
                if len(cells) != width:
                    tail = " (the file may be cut off)" if len(cells) < width else ""
                    found.add([Problem(f"row {n} has {len(cells)} field"
                                       f"{'s' if len(cells) != 1 else ''}, the header has "
                                       f"{width}{tail}", name, n)])
                    continue
                buf.append(cells)
                numbers.append(n)
                if len(buf) == CHUNK_ROWS:
                    yield _frame(buf, header), np.array(numbers)
                    buf, numbers = [], []
        except csv.Error as exc:
            raise malformed(exc) from None
        if buf:
            yield _frame(buf, header), np.array(numbers)

    return Table(name, header, rows)


def _open_xlsx(path: Path, name: str, sheet: str | None) -> Table:
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            sheets = tuple(str(s) for s in book.sheet_names)
            chosen = sheets[0] if sheets else None
            if sheet:
                chosen = next((s for s in sheets if s == sheet), None) or next(
                    (s for s in sheets if s.strip().lower() == sheet.strip().lower()), None)
                if chosen is None:
                    raise ImportRejected([Problem(
                        f"the workbook has no sheet '{sheet}'; its sheets: "
                        f"{', '.join(sheets)}", name)], name)
            frame = pd.read_excel(book, sheet_name=chosen, dtype=str, keep_default_na=False)
    except ImportRejected:
        raise
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, IndexError) as exc:
        raise ImportRejected([Problem(f"not a readable XLSX workbook: {exc}", name)],
                             name) from None
    header = _header(list(frame.columns), name)
    frame.columns = header
    frame = _tidy(frame)

    def rows(found: Found) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        for start in range(0, len(frame), CHUNK_ROWS):
            chunk = frame.iloc[start:start + CHUNK_ROWS].reset_index(drop=True)
            yield chunk, np.arange(start + 2, start + 2 + len(chunk))

    return Table(name, header, rows, chosen, sheets)


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    frame = frame.fillna("")
    for col in frame.columns:
        frame[col] = frame[col].astype(str).str.strip()
    # drop rows that are wholly blank (trailing lines of exported spreadsheets)
    blank = (frame == "").all(axis=1)
    return frame.loc[~blank].reset_index(drop=True) if blank.any() else frame


def normalise_postcode(series: pd.Series) -> pd.Series:
    """Upper-case, single space before the inward code: 'ln11 0fs' -> 'LN11 0FS'."""
    s = series.astype("string").str.upper().str.replace(r"\s+", "", regex=True)
    s = s.where(s.str.len() >= 5)
    return (s.str[:-3] + " " + s.str[-3:]).astype("object").where(s.notna(), None)


# ---------------------------------------------------------------------------------------------
# Batches and summaries


@dataclass
class Batch:
    """What one file will write: records per table, plus what could not be placed."""

    kind: str
    file: str
    rows_read: int
    upserts: dict[str, list[dict]] = field(default_factory=dict)
    unplaced: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    after_write: list[Callable[[sqlite_utils.Database], dict[str, int]]] = field(
        default_factory=list)

    def add(self, table: str, records: list[dict]) -> None:
        self.upserts.setdefault(table, []).extend(records)


@dataclass
class ImportSummary:
    import_id: int
    kind: str
    file: str
    content_hash: str
    rows_read: int
    by_type: dict[str, int]
    unplaced: list[dict]
    notes: list[str]
    rejected: int = 0

    @property
    def records(self) -> int:
        return sum(self.by_type.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id, "kind": self.kind, "file": self.file,
            "content_hash": self.content_hash, "rows_read": self.rows_read,
            "records": self.records, "by_type": self.by_type, "rejected": self.rejected,
            "unplaced_count": len(self.unplaced), "unplaced": self.unplaced,
            "notes": self.notes,
        }

    def text(self) -> str:
        lines = [f"imported {self.file} as {self.kind} (import #{self.import_id}): "
                 f"{self.rows_read} rows read, {self.records} records written"]
        for table, n in self.by_type.items():
            lines.append(f"  {table}: {n}")
        lines.append(f"  rejected: {self.rejected}")
        lines.append(f"  unplaced (no coordinates): {len(self.unplaced)}")
        for u in self.unplaced[:20]:
            lines.append(f"    {u.get('id')} {u.get('name') or ''} postcode {u.get('postcode')}")
        if len(self.unplaced) > 20:
            lines.append(f"    ... and {len(self.unplaced) - 20} more")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Helpers over frames


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts with NaN/NA turned into None and NumPy scalars into Python ones."""
    out = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for rec in out:
        for k, v in rec.items():
            if isinstance(v, np.generic):
                rec[k] = v.item()
            elif isinstance(v, float) and np.isnan(v):
                rec[k] = None
    return out


def _ids(db: sqlite_utils.Database, table: str, key: str) -> set[str]:
    return {r[0] for r in db.execute(f"select [{key}] from [{table}]")}


def _check_refs(frame: pd.DataFrame, column: str, known: set[str], what: str, file: str,
                first_row: int = 2, also: set[str] | None = None) -> list[Problem]:
    """Problems for every non-blank value of `column` that is not a known id."""
    if column not in frame.columns:
        return []
    allowed = known | (also or set())
    vals = frame[column]
    bad = vals.notna() & ~vals.isin(allowed)
    return [Problem(f"unknown {what} '{vals.iloc[i]}' (import the {what}s first)", file,
                    first_row + int(i), column) for i in np.flatnonzero(bad.to_numpy())]


def _place(db: sqlite_utils.Database, frame: pd.DataFrame) -> pd.DataFrame:
    """Fill missing lat/lon from the postcodes table; mark how each row was placed."""
    frame = frame.copy()
    for c in ("lat", "lon", "postcode"):
        if c not in frame.columns:
            frame[c] = None
    frame["postcode"] = normalise_postcode(frame["postcode"])
    frame["lat"] = pd.to_numeric(frame["lat"]).astype("float64")
    frame["lon"] = pd.to_numeric(frame["lon"]).astype("float64")
    has = frame["lat"].notna() & frame["lon"].notna()
    frame["placed_by"] = np.where(has, "given", None)
    need = ~has & frame["postcode"].notna()
    if need.any():
        codes = list(frame.loc[need, "postcode"].unique())
        found = {}
        for i in range(0, len(codes), 500):
            chunk = codes[i:i + 500]
            q = ",".join("?" * len(chunk))
            for pc, lat, lon in db.execute(
                    f"select postcode, lat, lon from postcodes where postcode in ({q})", chunk):
                found[pc] = (lat, lon)
        idx = frame.index[need]
        hit = [found.get(pc) for pc in frame.loc[need, "postcode"]]
        frame.loc[idx, "lat"] = [h[0] if h else np.nan for h in hit]
        frame.loc[idx, "lon"] = [h[1] if h else np.nan for h in hit]
        frame.loc[idx, "placed_by"] = ["postcode" if h else None for h in hit]
    return frame


def _nearest_zone(db: sqlite_utils.Database, frame: pd.DataFrame) -> pd.DataFrame:
    """Give rows with coordinates but no zone the zone whose centroid is nearest."""
    frame = frame.copy()
    if "zone_id" not in frame.columns:
        frame["zone_id"] = None
    zones = list(db.execute("select zone_id, lat, lon from zones where lat is not null "
                            "and lon is not null"))
    need = frame["zone_id"].isna() & frame["lat"].notna() & frame["lon"].notna()
    if not zones or not need.any():
        return frame
    zid = np.array([z[0] for z in zones], dtype=object)
    zlat = np.radians(np.array([z[1] for z in zones], dtype=float))
    zlon = np.radians(np.array([z[2] for z in zones], dtype=float))
    lat = np.radians(frame.loc[need, "lat"].to_numpy(dtype=float))
    lon = np.radians(frame.loc[need, "lon"].to_numpy(dtype=float))
    best = np.empty(len(lat), dtype=object)
    for start in range(0, len(lat), 256):  # blocks keep memory flat on national files
        la, lo = lat[start:start + 256, None], lon[start:start + 256, None]
        a = (np.sin((zlat - la) / 2) ** 2
             + np.cos(la) * np.cos(zlat) * np.sin((zlon - lo) / 2) ** 2)
        best[start:start + 256] = zid[np.argmin(a, axis=1)]
    frame.loc[need, "zone_id"] = best
    return frame


def _unplaced(frame: pd.DataFrame, key: str) -> list[dict]:
    miss = frame["lat"].isna() | frame["lon"].isna()
    return [{"id": r[key], "name": r.get("name"), "postcode": r.get("postcode")}
            for r in _records(frame.loc[miss, [c for c in (key, "name", "postcode")
                                                if c in frame.columns]])]


class _Cleared:
    """The value of a `<clear>` cell in a record: the write path stores NULL for it (a None, a
    blank cell, is left out of the upsert and keeps the stored value)."""

    def __repr__(self) -> str:
        return CLEAR


CLEARED = _Cleared()


def _entity_records(entity: Entity, table: pd.DataFrame, rows: pd.DataFrame) -> list[dict]:
    """The records of validated `rows` (in the order of `table`, the file's rows), with
    CLEARED where the file's cell is `<clear>` and the import derived no value for it."""
    records = _records(rows)
    for column, positions in entity.clears(table).items():
        for pos in positions:
            if records[pos].get(column) is None:
                records[pos][column] = CLEARED
    return records


def _default_names(db: sqlite_utils.Database, table: str, key: str,
                   records: list[dict]) -> list[dict]:
    """A record of a new row without a name is named by its id; a stored row keeps its name
    when the file leaves the name blank or out."""
    stored = _ids(db, table, key)
    for r in records:
        if r.get("name") is None and r[key] not in stored:
            r["name"] = r[key]
    return records


def _stamp(records: list[dict]) -> list[dict]:
    t = now()
    for r in records:
        r["updated_at"] = t
    return records


# ---------------------------------------------------------------------------------------------
# Kinds


def estimate_demand(frame: pd.DataFrame, params: ParameterSet) -> pd.Series:
    """Weekly contact hours from population by age band, with the per-band rates as parameters."""
    return (frame["population_65_74"].astype(float) * params["demand_rate_65_74"]
            + frame["population_75_84"].astype(float) * params["demand_rate_75_84"]
            + frame["population_85_plus"].astype(float) * params["demand_rate_85_plus"])


def _zones(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
    zones = ZONE.validate(table, file)
    batch = Batch("zones", file, len(table))
    bands = {"population_65_74", "population_75_84", "population_85_plus"}
    if bands <= set(zones.columns) and "population_65_plus" not in zones.columns:
        zones["population_65_plus"] = zones[sorted(bands)].sum(axis=1, min_count=3)
    if "demand_hours" not in zones.columns:
        zones["demand_hours"] = np.nan
    # demand given: not estimated; estimated from the bands: estimated; neither: as stored
    zones["demand_estimated"] = np.where(zones["demand_hours"].notna(), 0, None)
    if bands <= set(zones.columns):
        est = zones["demand_hours"].isna() & zones[sorted(bands)].notna().all(axis=1)
        zones.loc[est, "demand_hours"] = estimate_demand(zones.loc[est], params)
        zones.loc[est, "demand_estimated"] = 1
        if est.any():
            batch.notes.append(f"demand estimated from population for {int(est.sum())} zones")
    records = _default_names(db, "zones", "zone_id", _entity_records(ZONE, table, zones))
    batch.add("zones", records)
    return batch


def _providers(entity: Entity, kind: str) -> Callable:
    def parse(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
        rows = entity.validate(table, file)
        problems = _check_refs(rows, "zone_id", _ids(db, "zones", "zone_id"), "zone", file)
        if problems:
            raise ImportRejected(problems, file)
        rows = _place(db, rows)
        rows = _nearest_zone(db, rows)
        if "nursing" in rows.columns:
            rows["nursing"] = rows["nursing"].map({True: 1, False: 0, None: None})
        batch = Batch(kind, file, len(table))
        batch.unplaced = _unplaced(rows, entity.key)
        batch.add(entity.table, _entity_records(entity, table, rows))
        return batch

    return parse


def _sites(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
    rows = SITE.validate(table, file)
    batch = Batch("sites", file, len(table))
    batch.add("sites", _default_names(db, "sites", "site_id",
                                      _entity_records(SITE, table, rows)))
    return batch


def _fees(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
    # The entity holds amounts to the weekly range; an hourly rate is checked against its own.
    unit = (table["unit"].astype("string").str.strip().str.lower().fillna("") if "unit" in
            table.columns else pd.Series("", index=table.index))
    hourly = np.flatnonzero((unit == "hour").to_numpy())
    per_hour = ranges.row("fees", "amount", "unit hour")
    problems = []
    if "amount" in table.columns:  # (a <clear> or blank amount is the entity's to report)
        cells = table["amount"].iloc[hourly]
        cells = cells.where(cells.astype("string").str.strip().str.lower() != CLEAR, "")
        _values, found = ranges.numbers(cells, per_hour.range, per_hour.label)
        problems = [Problem(message, file, 2 + int(hourly[pos]), "amount")
                    for pos, message in found]
    hourly_bad = {p.row for p in problems}
    try:
        rows = FEE_RATE.validate(table, file)
    except ImportRejected as exc:
        if any(p.row in (None, 1) for p in exc.problems):
            raise
        problems += [p for p in exc.problems
                     if not (p.column == "amount" and p.row in hourly_bad)]
        raise ImportRejected(sorted(problems, key=lambda p: (p.row or 0, p.column or "")),
                             file, exc.total - len(exc.problems) + len(problems)) from None
    providers = _ids(db, "homecare_providers", "provider_id") | _ids(db, "care_homes",
                                                                      "provider_id")
    problems += _check_refs(rows, "zone_id", _ids(db, "zones", "zone_id"), "zone", file)
    problems += _check_refs(rows, "provider_id", providers, "provider", file)
    unit_ok = np.where(rows["service"] == "homecare", rows["unit"] == "hour",
                       rows["unit"] == "week")
    for i in np.flatnonzero(~unit_ok):
        problems.append(Problem(f"service '{rows['service'].iloc[i]}' is priced per "
                                f"{'hour' if rows['service'].iloc[i] == 'homecare' else 'week'}"
                                f", not per '{rows['unit'].iloc[i]}'", file, 2 + int(i), "unit"))
    for c in ("provider_id", "zone_id", "fee_id", "note"):
        if c not in rows.columns:
            rows[c] = None
    rows["fee_id"] = [r["fee_id"] or fee_id(r) for r in _records(rows)]
    dup = rows["fee_id"].duplicated()
    for i in np.flatnonzero(dup.to_numpy()):
        problems.append(Problem(f"duplicate fee '{rows['fee_id'].iloc[i]}' (same funder, "
                                "service, unit, date and scope as an earlier row)", file,
                                2 + int(i), "effective_from"))
    if problems:
        raise ImportRejected(sorted(problems, key=lambda p: p.row or 0), file)
    batch = Batch("fees", file, len(table))
    batch.add("fee_rates", _entity_records(FEE_RATE, table, rows))
    return batch


def _self_funders(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
    rows = SELF_FUNDER_FIGURE.validate(table, file)
    for c in ("figure_id", "as_of"):
        if c not in rows.columns:
            rows[c] = None
    rows["figure_id"] = [r["figure_id"] or f"{r['area_id']}:{r['service']}:{r['as_of'] or '*'}"
                         for r in _records(rows)]
    batch = Batch("self-funders", file, len(table))
    batch.add("self_funder_figures", _entity_records(SELF_FUNDER_FIGURE, table, rows))
    return batch


def _travel(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
    """Long form (provider_id, zone_id, minutes) or wide form (a row per zone, a column per base).

    Ids are matched first, then names; anything matching neither is rejected. In wide form a
    blank cell is a missing pair (the estimate of methodology section 2 fills it later).
    """
    zone_ids = _ids(db, "zones", "zone_id")
    zone_names = _name_index(db, "zones", "zone_id")
    base_ids = _ids(db, "homecare_providers", "provider_id") | _ids(db, "sites", "site_id")
    base_names = {**_name_index(db, "sites", "site_id"),
                  **_name_index(db, "homecare_providers", "provider_id")}
    batch = Batch("travel", file, len(table))
    cols = set(table.columns)
    if {"provider_id", "zone_id", "minutes"} <= cols:
        rows = TRAVEL.validate(table, file)
        rows["zone_id"], p1 = _match(rows["zone_id"], zone_ids, zone_names, "zone", file,
                                     "zone_id")
        rows["provider_id"], p2 = _match(rows["provider_id"], base_ids, base_names,
                                         "provider or site", file, "provider_id")
        problems = p1 + p2
        dup = rows.duplicated(["provider_id", "zone_id"])
        for i in np.flatnonzero(dup.to_numpy()):
            problems.append(Problem(f"duplicate pair {rows['provider_id'].iloc[i]} -> "
                                    f"{rows['zone_id'].iloc[i]}", file, 2 + int(i), "zone_id"))
        if problems:
            raise ImportRejected(sorted(problems, key=lambda p: p.row or 0), file)
    else:
        rows = _wide_travel(table, file, zone_ids, zone_names, base_ids, base_names)
        missing = len(table) * (len(table.columns) - 1) - len(rows)
        if missing:
            batch.notes.append(f"{missing} blank cells left as missing pairs (estimated later)")
    rows["source"] = file
    batch.add("travel_times", _records(rows[["provider_id", "zone_id", "minutes", "source"]]))
    return batch


def _name_index(db, table: str, key: str) -> dict[str, str]:
    """Lower-cased name -> id, for names that identify one row only."""
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for id_, name in db.execute(f"select [{key}], name from [{table}] where name is not null"):
        k = str(name).strip().lower()
        seen[k] = seen.get(k, 0) + 1
        out[k] = id_
    return {k: v for k, v in out.items() if seen[k] == 1}


def _match(values: pd.Series, ids: set[str], names: dict[str, str], what: str, file: str,
           column: str, first_row: int = 2) -> tuple[pd.Series, list[Problem]]:
    resolved = [v if v in ids else names.get(str(v).strip().lower()) for v in values]
    problems = [Problem(f"'{v}' matches no {what} id or name", file, first_row + i, column)
                for i, (v, r) in enumerate(zip(values, resolved, strict=True)) if r is None]
    return pd.Series(resolved, index=values.index, dtype=object), problems


def _wide_travel(table: pd.DataFrame, file: str, zone_ids, zone_names, base_ids,
                 base_names) -> pd.DataFrame:
    if len(table.columns) < 2:
        raise ImportRejected([Problem(
            "travel needs columns provider_id, zone_id, minutes (long form) or a zone column "
            "followed by one column per provider or site (wide form)", file, 1)], file)
    zone_col = table.columns[0]
    zones, problems = _match(table[zone_col], zone_ids, zone_names, "zone", file, zone_col)
    bases = {}
    for col in table.columns[1:]:
        b = col if col in base_ids else base_names.get(col.strip().lower())
        if b is None:
            problems.append(Problem(f"column '{col}' matches no provider or site id or name",
                                    file, 1, col))
        bases[col] = b
    dup = zones.duplicated() & zones.notna()
    for i in np.flatnonzero(dup.to_numpy()):
        problems.append(Problem(f"zone '{table[zone_col].iloc[i]}' appears twice", file,
                                2 + int(i), zone_col))
    values = table[table.columns[1:]]
    minutes = ranges.row("travel", "every provider or site column", "wide form")
    nums = pd.DataFrame(index=values.index)
    for col in values.columns:
        nums[col], found = ranges.numbers(values[col], minutes.range, minutes.label)
        problems += [Problem(message, file, 2 + pos, col) for pos, message in found]
    if problems:
        raise ImportRejected(sorted(problems, key=lambda p: (p.row or 0, p.column or "")), file)
    nums.index = zones.to_numpy()
    nums.columns = [bases[c] for c in nums.columns]
    long = nums.stack().reset_index()
    long.columns = ["zone_id", "provider_id", "minutes"]
    return long


def _postcodes(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
    cols = {c.lower(): c for c in table.columns}
    pc = next((cols[c] for c in ("postcode", "pcd", "pcds", "postcode_") if c in cols), None)
    lat = next((cols[c] for c in ("lat", "latitude") if c in cols), None)
    lon = next((cols[c] for c in ("lon", "long", "longitude") if c in cols), None)
    missing = [n for n, c in (("postcode", pc), ("lat", lat), ("lon", lon)) if c is None]
    if missing:
        raise ImportRejected([Problem(f"missing column '{m}'", file, 1, m) for m in missing],
                             file)
    frame = pd.DataFrame({"postcode": normalise_postcode(table[pc])})
    problems = []
    for col, given in (("lat", lat), ("lon", lon)):
        r = ranges.row("postcodes", col)
        frame[col], found = ranges.numbers(table[given], r.range, r.label)
        problems += [Problem(message, file, 2 + pos, given) for pos, message in found]
    if problems:
        raise ImportRejected(problems, file)
    frame = frame.dropna().drop_duplicates("postcode", keep="last")
    batch = Batch("postcodes", file, len(table))
    batch.add("postcodes", _records(frame))
    batch.after_write.append(_place_everything)
    return batch


def _place_everything(db: sqlite_utils.Database) -> dict[str, int]:
    """Place providers, care homes and CQC locations that have a postcode but no coordinates."""
    placed = {}
    for table in ("homecare_providers", "care_homes", "cqc_locations"):
        extra = ", placed_by = 'postcode'" if table != "cqc_locations" else ""
        cur = db.execute(
            f"update [{table}] set lat = (select p.lat from postcodes p where p.postcode = "
            f"[{table}].postcode), lon = (select p.lon from postcodes p where p.postcode = "
            f"[{table}].postcode){extra} where (lat is null or lon is null) and postcode in "
            f"(select postcode from postcodes)")
        placed[f"{table} placed"] = cur.rowcount
    return placed


def _still_unplaced(db: sqlite_utils.Database) -> list[dict]:
    out = []
    for table in ("homecare_providers", "care_homes"):
        out += [{"id": r[0], "name": r[1], "postcode": r[2], "table": table} for r in db.execute(
            f"select provider_id, name, postcode from [{table}] where lat is null or lon is null")]
    return out


AGE_BANDS = {"population_65_74": range(65, 75), "population_75_84": range(75, 85)}


def _population(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
    """ONS LSOA population by single year of age (columns 0..89 and 90+)."""
    cols = set(table.columns)
    key = next((c for c in ("lsoa11_code", "lsoa21_code", "LSOA 2021 Code", "LSOA Code",
                            "zone_id") if c in cols), None)
    need = [str(a) for a in range(65, 90)] + ["90+"]
    missing = ([] if key else ["lsoa11_code"]) + [c for c in need if c not in cols]
    if missing:
        raise ImportRejected([Problem(f"missing column '{c}'", file, 1, c) for c in missing],
                             file)
    name_col = next((c for c in ("lsoa11_name", "lsoa21_name", "LSOA 2021 Name", "LSOA Name")
                     if c in cols), None)
    ages = [str(a) for a in range(0, 90) if str(a) in cols] + ["90+"]
    people = ranges.row("population", "0 .. 89, 90+")
    nums = pd.DataFrame(index=table.index)
    problems = []
    for age in ages:
        nums[age], found = ranges.numbers(table[age], people.range, f"people aged {age}")
        problems += [Problem(message, file, 2 + pos, age) for pos, message in found]
        problems += [Problem(f"people aged {age} is blank (give 0 if there are none)", file,
                             2 + int(i), age)
                     for i in np.flatnonzero((table[age] == "").to_numpy())]
    total = None
    if "total_population" in cols:
        r = ranges.row("population", "total_population")
        total, found = ranges.numbers(table["total_population"], r.range, r.label)
        problems += [Problem(message, file, 2 + pos, "total_population")
                     for pos, message in found]
    problems.sort(key=lambda p: (p.row or 0, p.column or ""))
    dup = table[key].duplicated()
    problems += [Problem(f"duplicate id '{table[key].iloc[i]}'", file, 2 + int(i), key)
                 for i in np.flatnonzero(dup.to_numpy())]
    problems += [Problem("zone id is blank", file, 2 + int(i), key)
                 for i in np.flatnonzero((table[key] == "").to_numpy())]
    if problems:
        raise ImportRejected(problems, file)
    out = pd.DataFrame({"zone_id": table[key]})
    if total is not None:
        out["population_total"] = total
    else:
        out["population_total"] = nums.sum(axis=1)
    for band, years in AGE_BANDS.items():
        out[band] = nums[[str(a) for a in years]].sum(axis=1)
    out["population_85_plus"] = nums[[str(a) for a in range(85, 90)] + ["90+"]].sum(axis=1)
    out["population_65_plus"] = out[["population_65_74", "population_75_84",
                                     "population_85_plus"]].sum(axis=1)
    existing = {r[0]: (r[1], r[2]) for r in db.execute(
        "select zone_id, demand_hours, demand_estimated from zones")}
    estimate = estimate_demand(out, params)
    keep_given = [zid in existing and existing[zid][0] is not None and not existing[zid][1]
                  for zid in out["zone_id"]]
    out["demand_hours"] = np.where(keep_given, np.nan, estimate)
    out["demand_estimated"] = np.where(keep_given, 0, 1)
    records = _records(out)
    for r, keep in zip(records, keep_given, strict=True):
        if keep:  # a demand figure given by the commissioner beats the estimate
            del r["demand_hours"], r["demand_estimated"]
    if name_col:
        for r, name in zip(records, table[name_col], strict=True):
            r["name"] = name or None
    records = _default_names(db, "zones", "zone_id", records)
    batch = Batch("population", file, len(table))
    batch.add("zones", records)
    n_est = int(sum(1 for k in keep_given if not k))
    batch.notes.append(f"demand estimated from population for {n_est} zones "
                       f"({len(records) - n_est} keep a demand given on import)")
    return batch


def _rurality(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
    """ONS Rural-Urban Classification (2011 A1..E2 codes or 2021 classes) folded to four classes."""
    cols = set(table.columns)
    key = next((c for c in ("lsoa11_code", "lsoa21_code", "LSOA11CD", "LSOA21CD", "zone_id")
                if c in cols), None)
    code_col = next((c for c in ("ruc11_code", "RUC11CD", "ruc21_code", "RUC21CD", "ruc_code")
                     if c in cols), None)
    class_col = next((c for c in ("classification", "RUC21NM", "RUC11", "ruc21_name")
                      if c in cols), None)
    if key is None or (code_col is None and class_col is None):
        missing = (["lsoa11_code"] if key is None else []) + (
            ["ruc11_code"] if code_col is None and class_col is None else [])
        raise ImportRejected([Problem(f"missing column '{c}' (RUC 2011 codes A1..E2 or RUC "
                                      "2021 classes)", file, 1, c) for c in missing], file)
    classes, problems = [], []
    for i, (code, label) in enumerate(zip(table[code_col] if code_col else [""] * len(table),
                                          table[class_col] if class_col else [""] * len(table),
                                          strict=True)):
        folded = fold_rurality(code, label)
        if folded is None:
            problems.append(Problem(f"'{code or label}' is not a RUC 2011 code ("
                                    f"{', '.join(sorted(RUC2011))}) or RUC 2021 class",
                                    file, 2 + i, code_col or class_col))
        classes.append(folded)
    dup = table[key].duplicated()
    problems += [Problem(f"duplicate id '{table[key].iloc[i]}'", file, 2 + int(i), key)
                 for i in np.flatnonzero(dup.to_numpy())]
    if problems:
        raise ImportRejected(problems, file)
    out = pd.DataFrame({"zone_id": table[key], "rurality": classes,
                        "ruc_code": table[code_col] if code_col else table[class_col]})
    batch = Batch("rurality", file, len(table))
    batch.add("zones", _records(out))
    counts = out["rurality"].value_counts().to_dict()
    batch.notes.append("rurality classes: " + ", ".join(f"{k} {counts.get(k, 0)}"
                                                        for k in RURALITY_CLASSES))
    return batch


# CQC -----------------------------------------------------------------------------------------

CQC_RATINGS_COLUMNS = ("Location ID", "Location Name", "Domain", "Latest Rating")
CQC_HSCA_COLUMNS = ("Location ID", "Location Name", "Care homes beds")
RATING_ORDER = ("Outstanding", "Good", "Requires improvement", "Inadequate")


def _cqc(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
    cols = set(table.columns)
    if set(CQC_RATINGS_COLUMNS) <= cols:
        locations = _cqc_ratings(table, file)
    elif set(CQC_HSCA_COLUMNS) <= cols:
        locations = _cqc_hsca(table, file)
    else:
        missing = [c for c in CQC_RATINGS_COLUMNS if c not in cols]
        raise ImportRejected([Problem(
            f"not a CQC ratings export or HSCA active locations file: missing column '{c}'",
            file, 1, c) for c in missing], file)
    locations = _place(db, locations.rename(columns={"location_id": "provider_id"}))
    locations = locations.rename(columns={"provider_id": "location_id"})
    batch = Batch("cqc", file, len(table))
    stamp = locations.copy()
    batch.add("cqc_locations", _records(stamp.drop(columns=["placed_by"])))
    common = ["provider_id", "name", "postcode", "lat", "lon", "group_id", "group_name",
              "cqc_rating", "cqc_rating_date", "la_name", "placed_by"]
    social = locations.rename(columns={"location_id": "provider_id"})
    social = _nearest_zone(db, social)
    homes = social[social["care_home"] == 1]
    if "nursing" in homes.columns:
        common_homes = common + ["nursing"]
    else:
        common_homes = common
    home_cols = common_homes + ["zone_id"] + (["beds"] if homes["beds"].notna().any() else [])
    if "beds" in home_cols:
        # beds only where the file gives them: never blank out beds imported from elsewhere
        with_beds = homes[homes["beds"].notna()]
        batch.add("care_homes", _records(with_beds[home_cols]))
        batch.add("care_homes", _records(homes[homes["beds"].isna()][common_homes + ["zone_id"]]))
    else:
        batch.add("care_homes", _records(homes[home_cols]))
    agencies = social[social["homecare"] == 1]
    batch.add("homecare_providers", _records(agencies[common + ["zone_id"]]))
    other = locations[(locations["care_home"] == 0) & (locations["homecare"] == 0)]
    if len(other):
        kinds = other["inspection_category"].astype(object).fillna("other").value_counts()
        batch.notes.append(f"{len(other)} locations are not adult social care and are kept in "
                           "cqc_locations only: " + ", ".join(f"{k} {v}" for k, v in
                                                                kinds.items()))
    placed_social = social[(social["care_home"] == 1) | (social["homecare"] == 1)]
    batch.unplaced = _unplaced(placed_social, "provider_id")
    return batch


def _cqc_date(series: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(series, errors="coerce", format="%m/%d/%Y")
    alt = pd.to_datetime(series, errors="coerce", format="mixed", dayfirst=True)
    parsed = parsed.fillna(alt)
    return parsed


def _cqc_ratings(table: pd.DataFrame, file: str) -> pd.DataFrame:
    problems = [Problem("Location ID is blank", file, 2 + int(i), "Location ID")
                for i in np.flatnonzero((table["Location ID"] == "").to_numpy())]
    if problems:
        raise ImportRejected(problems, file)
    t = table.copy()
    t["_date"] = _cqc_date(t.get("Publication Date", pd.Series([""] * len(t))))
    group = t.get("Service / Population Group", pd.Series([""] * len(t), index=t.index))
    t["_group"] = group
    first = t.drop_duplicates("Location ID", keep="first").set_index("Location ID")
    overall = t[t["Domain"].str.lower() == "overall"].copy()
    # the location's own overall rating is the 'Overall' group row; else the latest overall row
    overall["_rank"] = (overall["_group"].str.lower() != "overall").astype(int)
    overall = overall.sort_values(["Location ID", "_rank", "_date"],
                                  ascending=[True, True, False])
    best = overall.drop_duplicates("Location ID").set_index("Location ID")
    groups = t.groupby("Location ID")["_group"].agg(lambda s: set(s.str.lower()))
    ids = first.index
    care_home_flag = first.get("Care Home?", pd.Series("", index=ids)).str.upper() == "Y"
    category = first.get("Location Primary Inspection Category", pd.Series("", index=ids))
    loc_type = first.get("Location Type", pd.Series("", index=ids))
    community = category.str.lower().str.contains("community based adult social care")
    care_home = care_home_flag | groups.reindex(ids).map(lambda g: "care homes" in g)
    homecare = community | groups.reindex(ids).map(
        lambda g: bool(g & {"homecare", "supported living"}))
    out = pd.DataFrame({
        "location_id": ids,
        "name": first["Location Name"].to_numpy(),
        "location_type": loc_type.to_numpy(),
        "inspection_category": category.to_numpy(),
        "care_home": care_home.astype(int).to_numpy(),
        "homecare": homecare.astype(int).to_numpy(),
        "beds": np.nan,
        "postcode": first.get("Location Post Code", pd.Series(None, index=ids)).to_numpy(),
        "lat": np.nan, "lon": np.nan,
        "la_name": first.get("Location Local Authority", pd.Series(None, index=ids)).to_numpy(),
        "group_id": first.get("Provider ID", pd.Series(None, index=ids)).to_numpy(),
        "group_name": first.get("Provider Name", pd.Series(None, index=ids)).to_numpy(),
        "cqc_rating": best["Latest Rating"].reindex(ids).to_numpy(),
        "cqc_rating_date": best["_date"].reindex(ids).dt.strftime("%Y-%m-%d").to_numpy(),
    })
    out["role"] = np.select([out.care_home.eq(1) & out.homecare.eq(1), out.care_home.eq(1),
                             out.homecare.eq(1)], ["care home and home care", "care home",
                                                   "home care"], "other")
    return out.replace({"": None, "-": None})


def _cqc_hsca(table: pd.DataFrame, file: str) -> pd.DataFrame:
    t = table
    problems = [Problem("Location ID is blank", file, 2 + int(i), "Location ID")
                for i in np.flatnonzero((t["Location ID"] == "").to_numpy())]
    def number(column: str) -> pd.Series:
        r = ranges.row("cqc", column, "HSCA file")
        if column not in t.columns:
            return pd.Series(np.nan, index=t.index)
        values, found = ranges.numbers(t[column], r.range, r.label)
        problems.extend(Problem(message, file, 2 + pos, column) for pos, message in found)
        return values

    beds = number("Care homes beds")
    lat = number("Location Latitude")
    lon = number("Location Longitude")
    dup = t["Location ID"].duplicated()
    problems += [Problem(f"duplicate id '{t['Location ID'].iloc[i]}'", file, 2 + int(i),
                         "Location ID") for i in np.flatnonzero(dup.to_numpy())]
    if problems:
        raise ImportRejected(problems, file)

    def flag(col: str) -> pd.Series:
        return (t[col].str.upper().isin(["Y", "YES", "TRUE", "1"]) if col in t.columns
                else pd.Series(False, index=t.index))

    service_home = flag("Service type - Care home service with nursing") | flag(
        "Service type - Care home service without nursing")
    care_home = (t.get("Care home?", t.get("Care Home?", pd.Series("", index=t.index)))
                 .str.upper().eq("Y")) | service_home | (beds.fillna(0) > 0)
    homecare = flag("Service type - Domiciliary care service") | flag(
        "Service type - Supported living service") | flag(
        "Service type - Extra Care housing services")
    rating = t.get("Location Latest Overall Rating", pd.Series(None, index=t.index))
    date = _cqc_date(t.get("Publication Date", pd.Series("", index=t.index)))
    out = pd.DataFrame({
        "location_id": t["Location ID"], "name": t["Location Name"],
        "location_type": t.get("Location Type/Sector", pd.Series(None, index=t.index)),
        "inspection_category": t.get("Location Inspection Directorate",
                                     pd.Series(None, index=t.index)),
        "care_home": care_home.astype(int), "homecare": homecare.astype(int),
        "beds": beds.where(beds > 0), "postcode": t.get("Location Postal Code",
                                                        t.get("Location Post Code")),
        "lat": lat, "lon": lon,
        "la_name": t.get("Location Local Authority", pd.Series(None, index=t.index)),
        "group_id": t.get("Provider ID", pd.Series(None, index=t.index)),
        "group_name": t.get("Provider Name", pd.Series(None, index=t.index)),
        "cqc_rating": rating, "cqc_rating_date": date.dt.strftime("%Y-%m-%d"),
    })
    if "Service type - Care home service with nursing" in t.columns:
        out["nursing"] = flag("Service type - Care home service with nursing").astype(int)
    out["role"] = np.select([out.care_home.eq(1) & out.homecare.eq(1), out.care_home.eq(1),
                             out.homecare.eq(1)], ["care home and home care", "care home",
                                                   "home care"], "other")
    return out.replace({"": None, "-": None}).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Registry and the transaction


def _cost_returns(service: str, kind: str) -> Callable:
    """Fair Cost of Care returns (market.fcoc): one row per provider return; every numeric
    column that is not context is a cost line. A blank line cell keeps what a return stored
    before (as in every upsert); a return from a provider the store does not hold is accepted
    and flagged."""
    providers_table = "homecare_providers" if service == "homecare" else "care_homes"

    def parse(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
        table = table.copy()
        table.columns = [str(c).strip() for c in table.columns]
        entity = fcoc.return_entity(service, table.columns)
        if "provider_id" in table.columns:
            pid = table["provider_id"].astype("string").str.strip()
            cat = (table["category"].astype("string").str.strip()
                   if service == "care_home" and "category" in table.columns else "homecare")
            table["return_id"] = pid + ":" + cat
        rows = entity.validate(table, file)
        lines = fcoc.line_columns(service, rows.columns)
        if not lines:
            raise ImportRejected([Problem(
                "no cost-line columns: a return needs at least one line in GBP per "
                f"{'contact hour' if service == 'homecare' else 'resident-week'} (e.g. "
                f"{', '.join(fcoc.LINES[service][:4])}, ...)", file, 1)], file)
        stored = {r[0]: json.loads(r[1] or "{}") for r in db.execute(
            "select return_id, lines from cost_returns where service = ?", [service])}
        records, problems = [], []
        for i, rec in enumerate(_entity_records(entity, table, rows)):
            given = {k: rec.pop(k) for k in lines}
            merged = dict(stored.get(rec["return_id"], {}))
            merged.update({k: v for k, v in given.items() if v is not None and v is not CLEARED})
            for k in [k for k, v in given.items() if v is CLEARED]:  # <clear> drops the line
                merged.pop(k, None)
            if not merged:
                problems.append(Problem("the return gives no cost line", file, 2 + i,
                                        lines[0]))
                continue
            rec = {k: v for k, v in rec.items() if v is not None}  # blank keeps what is stored
            rec.update(service=service, lines=json.dumps(merged, sort_keys=True),
                       total=round(sum(merged.values()), 4))
            records.append(rec)
        if problems:
            raise ImportRejected(problems, file)
        batch = Batch(kind, file, len(table))
        batch.add("cost_returns", records)
        known = _ids(db, providers_table, "provider_id")
        outside = sorted({r["provider_id"] for r in records} - known)
        if outside:
            batch.notes.append(f"{len(outside)} return(s) from providers not in the store "
                               f"(kept and flagged): {', '.join(outside[:20])}")
        return batch

    return parse


def _not_a_table(db, table: pd.DataFrame, file: str, params: ParameterSet) -> Batch:
    raise ImportRejected([Problem("a boundaries file is a GeoPackage or GeoJSON, not a table",
                                  file)], file)


@dataclass(frozen=True)
class Kind:
    """An import kind: its name, what it reads, its parser, and `example`, the header and one
    plausible row of its template CSV (column -> cell text, values in the ranges of
    market/ranges.py; None for a kind whose files are not tables)."""

    name: str
    description: str
    parse: Callable[[sqlite_utils.Database, pd.DataFrame, str, ParameterSet], Batch]
    # a kind whose files are not tables (boundaries: GeoPackage, GeoJSON) reads the file itself
    read: Callable[[sqlite_utils.Database, Path, str, ParameterSet], Batch] | None = None
    example: Mapping[str, str] | None = None


# The templates' example rows. Ids that must name stored records (travel) are the sample
# market's; every other record is new, so a template imports into any store as it stands.
_POPULATION_EXAMPLE = {"lsoa11_code": "E01026100", "lsoa11_name": "Example 001A",
                       **{str(a): str(18 if a < 65 else 11 if a < 75 else 7 if a < 85 else 3)
                          for a in range(90)}, "90+": "4"}
EXAMPLES: dict[str, dict[str, str]] = {
    "zones": {"zone_id": "E01026100", "name": "Example 001A", "lat": "53.2307",
              "lon": "-0.5406", "rurality": "town", "demand_hours": "120",
              "hop_minutes": "8", "population_65_74": "210", "population_75_84": "130",
              "population_85_plus": "45", "self_funder_share": "35%", "la_code": "E10000019",
              "la_name": "Example County"},
    "homecare-providers": {"provider_id": "HC-EX1", "name": "Example Home Care Ltd",
                           "capacity_hours": "1500", "lat": "53.2307", "lon": "-0.5406",
                           "postcode": "LN1 1AA", "max_travel_minutes": "30",
                           "self_funder_share": "30%", "self_funder_hourly_rate": "£28.50",
                           "la_hourly_rate": "£24.10", "zone_id": "", "group_id": "G-EX",
                           "group_name": "Example Care Group", "cqc_rating": "Good"},
    "care-homes": {"provider_id": "CH-EX1", "name": "Example House", "beds": "40",
                   "lat": "53.2307", "lon": "-0.5406", "postcode": "LN1 1AA",
                   "occupancy": "90%", "self_funder_share": "45%", "self_funder_fee": "£1,050",
                   "la_fee": "£800", "cost_per_resident_week": "£880",
                   "capital_cost_per_bed_week": "£130", "nursing": "no", "zone_id": "",
                   "group_id": "G-EX", "group_name": "Example Care Group",
                   "cqc_rating": "Good"},
    "sites": {"site_id": "SITE-EX1", "name": "Example base", "lat": "53.2307",
              "lon": "-0.5406", "capacity_hours": "800"},
    "fees": {"funder": "la", "service": "homecare", "unit": "hour", "amount": "£24.10",
             "effective_from": "2025-04-01", "provider_id": "", "zone_id": "",
             "note": "LA standard hourly rate 2025-26", "fee_id": ""},
    "self-funders": {"area_id": "E10000019", "service": "residential",
                     "self_funder_share": "52%", "self_funders": "1200",
                     "as_of": "2025-03-31", "source": "ONS care home self-funders estimate"},
    "travel": {"provider_id": "HC001", "zone_id": "S0001", "minutes": "12.5"},
    "cqc": {"Location ID": "1-1000000001", "Location Name": "Example House",
            "Care homes beds": "40", "Location Latitude": "53.2307",
            "Location Longitude": "-0.5406", "Location Postal Code": "LN1 1AA",
            "Location Local Authority": "Example County", "Provider ID": "1-100000001",
            "Provider Name": "Example Care Group",
            "Location Latest Overall Rating": "Good", "Publication Date": "01/03/2025",
            "Service type - Care home service without nursing": "Y",
            "Service type - Domiciliary care service": ""},
    "postcodes": {"postcode": "LN1 1AA", "lat": "53.2307", "lon": "-0.5406"},
    "population": _POPULATION_EXAMPLE,
    "rurality": {"lsoa11_code": "E01026100", "ruc11_code": "C1"},
    "homecare-returns": {"provider_id": "HC-EX1", "contact_hours": "650",
                         "carer_basic_pay": "£11.50", "visit_minutes": "30",
                         "direct_care": "12.40", "travel_time": "2.20", "mileage": "1.50",
                         "ppe": "0.70", "training": "0.30", "holiday": "1.50",
                         "sickness": "0.50", "ni": "0.90", "pension": "0.45",
                         "back_office": "4.60", "other_business": "1.50",
                         "return_on_operations": "0.80"},
    "care-home-returns": {"provider_id": "CH-EX1", "category": "residential", "beds": "40",
                          "occupancy": "90%", "carer_basic_pay": "£11.50",
                          "care_staff": "245.00", "nursing_staff": "", "other_staff": "80.00",
                          "agency": "13.00", "food": "30.00", "utilities": "31.00",
                          "maintenance": "25.00", "other_non_staff": "54.00",
                          "head_office": "38.00", "return_on_operations": "37.00",
                          "return_on_capital": "61.00"},
}


_KINDS: tuple[Kind, ...] = (
    Kind("zones", "zones (zone_id, name, lat, lon, rurality, demand_hours, ...)", _zones),
    Kind("homecare-providers", "home-care providers (provider_id, name, capacity_hours, ...)",
         _providers(HOMECARE_PROVIDER, "homecare-providers")),
    Kind("care-homes", "care homes (provider_id, name, beds, occupancy, fees, costs, ...)",
         _providers(CARE_HOME, "care-homes")),
    Kind("sites", "candidate bases for site selection (site_id, name, lat, lon, capacity_hours)",
         _sites),
    Kind("fees", "fee rates (funder, service, unit, amount, effective_from, scope)", _fees),
    Kind("self-funders", "self-funder figures (area_id, service, self_funder_share, ...)",
         _self_funders),
    Kind("travel", "travel minutes, long (provider_id, zone_id, minutes) or wide form", _travel),
    Kind("cqc", "CQC ratings export or HSCA active locations file", _cqc),
    Kind("postcodes", "postcode to lat/lon (e.g. Code-Point Open with lat, lon)", _postcodes),
    Kind("population", "ONS LSOA population by single year of age", _population),
    Kind("rurality", "ONS Rural-Urban Classification (2011 or 2021) per LSOA", _rurality),
    Kind("homecare-returns", "Fair Cost of Care home-care returns (provider_id, cost lines in "
         "GBP per contact hour)", _cost_returns("homecare", "homecare-returns")),
    Kind("care-home-returns", "Fair Cost of Care care-home returns (provider_id, category, cost "
         "lines in GBP per resident-week)", _cost_returns("care_home", "care-home-returns")),
    Kind("boundaries", "zone boundaries (GeoPackage or GeoJSON; matched to zones by code, "
         "reprojected to WGS84 and simplified)", _not_a_table, boundaries.parse),
)
KINDS: dict[str, Kind] = {k.name: (k if k.example or k.name not in EXAMPLES
                                   else replace(k, example=EXAMPLES[k.name])) for k in _KINDS}


def template_csv(kind: str) -> str:
    """The template of an import kind: a CSV with its header and one example row (our own
    values, written as they are: a longitude's '-' is a sign, not a formula); UnknownEntity for
    an unknown kind or one whose files are not tables."""
    k = KINDS.get(kind)
    if k is None:
        raise UnknownEntity(f"no import kind '{kind}' (kinds: {', '.join(KINDS)})")
    if not k.example:
        raise UnknownEntity(f"the import kind '{kind}' has no CSV template (its files are not "
                            "tables)")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(k.example))
    w.writerow(list(k.example.values()))
    return buf.getvalue()


def parse_file(db: sqlite_utils.Database, kind: str, path: str | Path,
               params: ParameterSet | None = None, display_name: str | None = None,
               sheet: str | None = None) -> Batch:
    """Read and check a file against the store without writing anything.

    The file is read CHUNK_ROWS rows at a time and each chunk is checked by the kind as it comes,
    so a large file of bad rows is rejected in bounded memory (the first MAX_PROBLEMS problems
    listed, all counted). A file of one chunk is parsed once; a longer one, once every chunk has
    passed, is parsed again whole (for what spans chunks: duplicates, totals)."""
    if kind not in KINDS:
        raise ImportRejected([Problem(f"unknown import kind '{kind}'; kinds: "
                                      f"{', '.join(KINDS)}")], display_name or str(path))
    name = display_name or Path(path).name
    params = params or ParameterSet()
    read = KINDS[kind].read
    if read is not None:
        if sheet:
            raise ImportRejected([Problem(f"a {kind} file has no sheets, so sheet '{sheet}' "
                                          "cannot be read; leave the sheet empty", name)], name)
        return read(db, Path(path), name, params)
    table = open_table(path, name, sheet)
    parse = KINDS[kind].parse
    found = Found()
    kept: list[pd.DataFrame] = []
    batch: Batch | None = None
    chunks = 0
    for chunk, rows in table.chunks(found):
        chunks += 1
        try:
            batch = parse(db, chunk, name, params)
        except ImportRejected as exc:
            batch = None
            problems = [_renumber(p, rows) for p in exc.problems]
            if any(p.row in (None, 1) for p in problems):  # the header: no use reading on
                found.add([_with_sheets(p, table) for p in problems], exc.total)
                raise found.rejection(name) from None
            found.add(problems, exc.total)
        if found.total:
            kept = []  # the file is rejected: keep nothing, only count
        else:
            kept.append(chunk)
    if found.total:
        raise found.rejection(name)
    if chunks == 0:
        if not table.header:
            raise ImportRejected([Problem(f"the file is empty ({table.about_sheets()})"
                                          if table.sheets else "the file is empty", name)], name)
        raise ImportRejected([Problem("the file has a header but no data rows", name, 2)], name)
    if chunks == 1 and batch is not None:
        _note_sheet(batch, table)
        return batch
    whole = pd.concat(kept, ignore_index=True)
    del kept
    try:
        batch = parse(db, whole, name, params)
    except ImportRejected as exc:
        raise ImportRejected([_with_sheets(p, table) for p in exc.problems], name,
                             exc.total) from None
    _note_sheet(batch, table)
    return batch


_ROW_IN_MESSAGE = re.compile(r"\brow (\d+)")


def _renumber(problem: Problem, rows: np.ndarray) -> Problem:
    """A problem found in a chunk, with the chunk's row numbers put back (the kinds number a
    frame's rows from 2, as if it were the whole file)."""
    def real(n: int) -> int:
        return int(rows[n - 2]) if 2 <= n < 2 + len(rows) else n

    if problem.row is None or problem.row < 2:
        return problem
    message = _ROW_IN_MESSAGE.sub(lambda m: f"row {real(int(m.group(1)))}", problem.message)
    return replace(problem, row=real(problem.row), message=message)


def _with_sheets(problem: Problem, table: Table) -> Problem:
    """A problem with the header of a workbook's sheet also names the workbook's sheets."""
    if not table.sheets or problem.row not in (None, 1):
        return problem
    return replace(problem, message=f"{problem.message} ({table.about_sheets()})")


def _note_sheet(batch: Batch, table: Table) -> None:
    if len(table.sheets) > 1:
        batch.notes.append(f"read sheet '{table.sheet}' of {len(table.sheets)} ("
                           f"{', '.join(table.sheets)})")


def rejection_log(db: sqlite_utils.Database) -> Path | None:
    """The journal of rejected imports beside the store file (`STORE.rejected.jsonl`), None for
    a store in memory. Rejections are kept out of the store so that a rejected file leaves the
    store byte-identical."""
    for _seq, name, file in db.execute("pragma database_list"):
        if name == "main":
            return Path(file + ".rejected.jsonl") if file else None
    return None


def log_rejection(db: sqlite_utils.Database, entry: dict[str, Any]) -> None:
    path = rejection_log(db)
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=str) + "\n")
    except OSError:  # a read-only folder: the rejection is still reported to the caller
        pass


def rejected_imports(db: sqlite_utils.Database, limit: int = 200) -> list[dict[str, Any]]:
    """The latest rejected imports, newest first (who, when, file, hash, the problems)."""
    path = rejection_log(db)
    if path is None or not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[-limit:]:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out[::-1]


def _digest(path: Path) -> str:
    """SHA-256 of the file, read a block at a time ('' for a file that cannot be read)."""
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return h.hexdigest()


def import_file(db: sqlite_utils.Database, kind: str, path: str | Path, *,
                user: str | None = None, params: ParameterSet | None = None,
                display_name: str | None = None, sheet: str | None = None) -> ImportSummary:
    """Import one file as `kind` (of a workbook, `sheet`, else its first): all rows or none.
    Return what was written."""
    name = display_name or Path(path).name
    digest = _digest(Path(path))
    started = now()
    try:
        batch = parse_file(db, kind, path, params, name, sheet or None)
    except ImportRejected as exc:
        log_rejection(db, {"kind": kind, "file_name": name, "content_hash": digest,
                           "user": user, "started_at": started, "finished_at": now(),
                           "status": "rejected", "problems_total": exc.total,
                           "problems": [p.to_dict() for p in exc.problems]})
        raise
    by_type: dict[str, int] = {}
    with db.atomic(), undo.recording(db):
        for table, records in batch.upserts.items():
            if not records:
                continue
            pk = db[table].pks
            if "updated_at" in db[table].columns_dict:
                records = _stamp(records)
            # sqlite-utils writes the union of keys (absent ones as NULL), so upsert records
            # with different key sets separately: an absent column is left as it was.
            # A blank cell never erases a stored value: keys whose value is None are left out
            # of the record (the row's key columns always stay), so the upsert leaves them.
            # A <clear> cell (CLEARED) writes NULL.
            keys = set(pk)
            records = [{k: (None if v is CLEARED else v) for k, v in rec.items()
                        if v is not None or k in keys} for rec in records]
            groups: dict[tuple, list[dict]] = {}
            for rec in records:
                groups.setdefault(tuple(rec), []).append(rec)
            for group in groups.values():
                db[table].upsert_all(group, pk=pk[0] if len(pk) == 1 else tuple(pk),
                                     alter=False, batch_size=2000)
            by_type[table] = by_type.get(table, 0) + len(records)
        for hook in batch.after_write:
            for k, v in hook(db).items():
                batch.notes.append(f"{k}: {v}")
        if batch.after_write:  # placement changed: report what is still without coordinates
            batch.unplaced = _still_unplaced(db)
        previous = list(db.execute("select id from imports where content_hash = ? and kind = ? "
                                   "order by id desc limit 1", [digest, kind]))
        if previous:
            batch.notes.append(f"same content as import #{previous[0][0]}: rows upserted, "
                               "nothing doubled")
        row = db["imports"].insert({
            "kind": kind, "file_name": name, "content_hash": digest, "user": user,
            "started_at": started, "finished_at": now(), "status": "imported",
            "rows_read": batch.rows_read, "records": sum(by_type.values()),
            "by_type": json.dumps(by_type), "rejected": 0,
            "unplaced": json.dumps(batch.unplaced[:1000]), "message": "\n".join(batch.notes),
        })
        undo.keep(db, int(row.last_pk))
    return ImportSummary(int(row.last_pk), kind, name, digest, batch.rows_read, by_type,
                         batch.unplaced, batch.notes)
