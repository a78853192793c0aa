"""Long ``IN (…)`` lists cut into pieces, each well under SQLite's and asyncpg's limits on bound
parameters (999 and 32,767)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")

IN_LIST = 900


def in_chunks(values: Sequence[T], size: int = IN_LIST) -> Iterable[Sequence[T]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]
