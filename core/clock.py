"""Time comes from one injectable clock, so demos and tests can pin the date."""

from __future__ import annotations

import datetime as dt
import os
from typing import Protocol

TASHKENT = dt.timezone(dt.timedelta(hours=5), "Asia/Tashkent")


def in_tashkent(value: dt.datetime) -> dt.datetime:
    """A stored instant in Tashkent time, whichever database it came from: SQLite hands back naive
    values, which the clock wrote in Tashkent time, and PostgreSQL aware ones in its session's zone."""
    return value.astimezone(TASHKENT) if value.tzinfo is not None else value.replace(tzinfo=TASHKENT)


class Clock(Protocol):
    """Tells the current instant; the registry's calendar day is taken in Tashkent time."""

    def now(self) -> dt.datetime: ...

    def today(self) -> dt.date: ...


class SystemClock:
    """The real clock, in Tashkent time (UTC+5, no daylight saving)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(TASHKENT)

    def today(self) -> dt.date:
        return self.now().date()


class FixedClock:
    """A clock pinned to a date (and optionally advanced by hand) for demos and tests."""

    def __init__(self, today: dt.date, time: dt.time = dt.time(10, 0)) -> None:
        self._now = dt.datetime.combine(today, time, tzinfo=TASHKENT)

    def now(self) -> dt.datetime:
        return self._now

    def today(self) -> dt.date:
        return self._now.date()

    def advance(self, delta: dt.timedelta) -> None:
        self._now += delta

    def set(self, today: dt.date) -> None:
        self._now = dt.datetime.combine(today, self._now.timetz())


class PinnedDateClock:
    """Today's wall-clock time on a pinned date: ``SPSR_TODAY`` pins the day, time still runs."""

    def __init__(self, today: dt.date) -> None:
        self._today = today

    def now(self) -> dt.datetime:
        return dt.datetime.combine(self._today, dt.datetime.now(TASHKENT).timetz())

    def today(self) -> dt.date:
        return self._today


class BadToday(ValueError):
    """``SPSR_TODAY`` is not a date: ``value`` as given. Its text is English (a log's); the command
    line says it in the operator's language."""

    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(f"SPSR_TODAY={value!r} is not a date (YYYY-MM-DD, e.g. 2026-12-10)")


def clock_from_env(environ: dict[str, str] | None = None) -> Clock:
    """``SPSR_TODAY=2026-12-10`` pins the registry's date; otherwise the system clock."""
    env = os.environ if environ is None else environ
    pinned = env.get("SPSR_TODAY", "").strip()
    if pinned:
        try:
            return PinnedDateClock(dt.date.fromisoformat(pinned))
        except ValueError:
            raise BadToday(pinned) from None
    return SystemClock()
