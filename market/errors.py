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


MAX_PROBLEMS = 200  # problems a rejection lists; the rest are counted in `total`


@dataclass
class ImportRejected(CareMarketError):
    """A file was rejected as a whole; nothing of it was written.

    `problems` holds at most MAX_PROBLEMS problems, the first found; `total` counts them all
    (a file of 60,000 bad rows is rejected with 200 problems listed and a total of 60,000)."""

    problems: list[Problem] = field(default_factory=list)
    file: str | None = None
    total: int = 0

    def __post_init__(self) -> None:
        self.total = max(self.total, len(self.problems))
        self.problems = list(self.problems[:MAX_PROBLEMS])
        super().__init__(str(self))

    @property
    def more(self) -> int:
        """Problems counted but not listed."""
        return self.total - len(self.problems)

    def counted(self) -> str:
        """'1 problem', '60,000 problems'."""
        return f"{self.total:,} problem{'s' if self.total != 1 else ''}"

    def tail(self) -> str:
        """'and 59,800 more; 60,000 problems in all', or '' when every problem is listed."""
        return f"and {self.more:,} more; {self.total:,} problems in all" if self.more else ""

    def __str__(self) -> str:
        head = f"{self.file}: rejected" if self.file else "rejected"
        shown = "\n".join(f"  {p}" for p in self.problems)
        more = f"\n  {self.tail()}" if self.more else ""
        return f"{head} ({self.counted()}):\n{shown}{more}"

    def to_dict(self) -> dict:
        return {"file": self.file, "problems": [p.to_dict() for p in self.problems],
                "total": self.total, "more": self.more}


class InvalidScenario(CareMarketError):
    """A scenario names an unknown parameter or gives it a value out of range."""


class InvalidInput(CareMarketError):
    """Model input that cannot be used (names the entity and field)."""


class UnknownEntity(CareMarketError):
    """An id that the store or the input does not hold."""


class OptimisationError(CareMarketError):
    """A solver failed, timed out or reported a status other than optimal."""
