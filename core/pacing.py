"""Keeping to a channel's rate: a token bucket whose clock and sleep are passed in (tests pass fakes),
and the watch that tells which of a channel's other senders still live, so they share the rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field


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

    def set_rate(self, rate: float, burst: float) -> None:
        """Go on at ``rate`` (this sender's new share). Tokens saved beyond the new ``burst`` are
        dropped; a debt keeps its length in time, so the sends already reserved keep their turns
        and the next one comes ``1 / rate`` after the last of them."""
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and room for at least one token")
        self._fill()
        if self.tokens < 0:
            self.tokens *= rate / self.rate
        self.rate, self.burst = rate, burst
        self.tokens = min(self.tokens, burst)

    def hold(self, seconds: float) -> None:
        """Empty the bucket for ``seconds`` (the channel said to wait)."""
        self._fill()
        self.tokens = min(self.tokens, -seconds * self.rate)


@dataclass
class PeerWatch:
    """Which of the other senders still live, judged by this sender alone on its own monotonic clock.

    Each sender counts its heartbeats in the database; a peer is alive while its count moves, and
    dead once this watch has seen the same count for ``timeout`` seconds. Nobody's wall clock is
    compared with another's: a machine whose clock is off by a minute is neither taken for dead
    (its share handed to the others, the channel's rate exceeded) nor kept alive after a crash.
    A peer first seen is counted alive (a sender that crashed before this one started costs a
    timeout at a lower rate, never a burst above it)."""

    timeout: float
    seen: dict[str, tuple[int, float]] = field(default_factory=dict)  # peer → (its count, since when)

    def look(self, peers: Iterable[tuple[str, int]], now: float) -> tuple[list[str], list[tuple[str, int]]]:
        """The live peers among ``peers`` (id, heartbeat count), and the dead ones with the count seen."""
        live: list[str] = []
        dead: list[tuple[str, int]] = []
        seen: dict[str, tuple[int, float]] = {}
        for peer, beats in peers:
            before = self.seen.get(peer)
            since = before[1] if before is not None and before[0] == beats else now
            seen[peer] = (beats, since)
            if now - since >= self.timeout:
                dead.append((peer, beats))
            else:
                live.append(peer)
        self.seen = seen  # peers gone from the table are forgotten
        return live, dead
