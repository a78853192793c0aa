"""Keeping to a channel's rate: a token bucket whose clock and sleep are passed in (tests pass fakes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``.

    ``take`` reserves the next token and sleeps until it is due, so waiting senders are spaced
    ``1 / rate`` apart in the order they asked, instead of all waking at once to race for one token.
    """

    def __init__(self, rate: float, burst: float, now: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and room for at least one token")
        self.rate = rate
        self.burst = burst
        self._now = now
        self._sleep = sleep
        self.tokens = float(burst)
        self.stamp = now()

    def _fill(self) -> None:
        t = self._now()
        self.tokens = min(self.burst, self.tokens + (t - self.stamp) * self.rate)
        self.stamp = t

    def try_take(self) -> bool:
        self._fill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    async def take(self) -> None:
        """Wait for a token (reserved now: the debt is what later callers wait behind)."""
        self._fill()
        self.tokens -= 1
        if self.tokens < 0:
            await self._sleep(-self.tokens / self.rate)

    def wait_time(self) -> float:
        self._fill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def idle(self) -> bool:
        """Full again: forgetting this bucket changes nothing."""
        self._fill()
        return self.tokens >= self.burst

    def hold(self, seconds: float) -> None:
        """Empty the bucket for ``seconds`` (the channel said to wait)."""
        self._fill()
        self.tokens = min(self.tokens, -seconds * self.rate)
