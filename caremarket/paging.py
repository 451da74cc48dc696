"""The one pagination helper: pages of a SQL query or of a list, with one shape and one cap.

Shape: {"items", "page", "per_page", "total", "pages", "next_page"}. `page` and `per_page` are
whole numbers of at least 1 (checked by the caller's argument parsing: `check_page`); a page past
the last is an empty page; `per_page` is capped at MAX_PER_PAGE.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import sqlite_utils

MAX_PER_PAGE = 1000
MAX_PAGE = 1_000_000_000  # SQLite's integers end at 2**63; no page needs more


class PageError(ValueError):
    """A page argument that cannot be used; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check_page(field: str, value: Any, maximum: int = MAX_PAGE) -> int:
    """`value` as a page number or page size: a whole number from 1 to `maximum`."""
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        raise PageError(field, f"{value!r} is not a whole number") from None
    if n < 1:
        raise PageError(field, "must be at least 1")
    if n > maximum:
        raise PageError(field, f"must be at most {maximum:,}")
    return n


def _bounds(args: Mapping[str, Any], per_page: int) -> tuple[int, int]:
    page = check_page("page", args.get("page", 1))
    size = min(check_page("per_page", args.get("per_page", per_page)), MAX_PER_PAGE)
    return page, size


def _shape(items: list, page: int, size: int, total: int) -> dict[str, Any]:
    pages = max(1, math.ceil(total / size))
    return {"items": items, "page": page, "per_page": size, "total": total, "pages": pages,
            "next_page": page + 1 if page < pages else None}


def paginate(total: int, fetch, args: Mapping[str, Any], per_page: int = 100
             ) -> dict[str, Any]:
    """A page given the total count and `fetch(limit, offset) -> items`."""
    page, size = _bounds(args, per_page)
    return _shape(list(fetch(size, (page - 1) * size)), page, size, int(total))


def paginate_sql(db: sqlite_utils.Database, sql: str, params: Sequence[Any], order: str,
                 args: Mapping[str, Any], per_page: int = 100) -> dict[str, Any]:
    """A page of the rows of `sql` ordered by `order`."""
    page, size = _bounds(args, per_page)
    total = db.execute(f"select count(*) from ({sql})", list(params)).fetchone()[0]
    cur = db.execute(f"select * from ({sql}) order by {order} limit ? offset ?",
                     [*params, size, (page - 1) * size])
    cols = [d[0] for d in cur.description]
    items = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    return _shape(items, page, size, int(total))


def paginate_list(items: Sequence[Any], args: Mapping[str, Any], per_page: int = 100
                  ) -> dict[str, Any]:
    """A page of an in-memory list."""
    page, size = _bounds(args, per_page)
    return _shape(list(items[(page - 1) * size: page * size]), page, size, len(items))
