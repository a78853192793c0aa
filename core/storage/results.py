"""What a statement did, read off its result."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result


def rowcount(result: Result[Any]) -> int:
    """Rows an INSERT … SELECT or UPDATE touched."""
    return int(cast(CursorResult[Any], result).rowcount)
