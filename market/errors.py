"""Domain exceptions. Those caused by user input say where (file, row, column) and what."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any


def shown(value: Any) -> str:
    """A value as a message shows it: plain Python formatting, never a numpy repr.

    Numbers as `:g` ('nan', 'inf', '1e+308', '42'), text quoted ('abc'), anything else by
    str(); a numpy scalar is first turned into the Python value it holds.
    """
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        with contextlib.suppress(TypeError, ValueError):
            value = item()
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


class CareMarketError(Exception):
    """Base class of every error the service reports to a user rather than crashing on."""


@dataclass(frozen=True)
class Problem:
    """One problem found in an input: where it is and what is wrong."""

    message: str
    file: str | None = None
    row: int | None = None  # 1-based data row as a spreadsheet shows it (header is row 1)
    column: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        return (", ".join(where) + ": " if where else "") + self.message

    def to_dict(self) -> dict:
        return {"file": self.file, "row": self.row, "column": self.column, "message": self.message}


@dataclass
class ImportRejected(CareMarketError):
    """A file was rejected as a whole; nothing of it was written."""

    problems: list[Problem] = field(default_factory=list)
    file: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.file}: rejected" if self.file else "rejected"
        n = len(self.problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:50])
        more = f"\n  ... and {n - 50} more problems" if n > 50 else ""
        return f"{head} ({n} problem{'s' if n != 1 else ''}):\n{shown}{more}"

    def to_dict(self) -> dict:
        return {"file": self.file, "problems": [p.to_dict() for p in self.problems]}


class InvalidScenario(CareMarketError):
    """A scenario names an unknown parameter or gives it a value out of range."""


class InvalidInput(CareMarketError):
    """Model input that cannot be used (names the entity and field)."""


class UnknownEntity(CareMarketError):
    """An id that the store or the input does not hold."""


class OptimisationError(CareMarketError):
    """A solver failed, timed out or reported a status other than optimal."""
