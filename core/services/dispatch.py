"""Sending the outbox at a channel's rate: claims, a bounded number of sends in flight, batched results.

A sender (SMS in ``core.services.sms``, Telegram in ``bots.sender``) subclasses ``OutboxSender`` and
says how one message goes out (``deliver``). The base class gives every channel the same guarantees:

- **Claims.** A pass claims a few due rows at a time (replies first: priority, then due time) and
  leases them by moving their ``next_attempt_at`` ahead by ``lease``; on PostgreSQL the claim skips
  rows another sender has locked (``FOR UPDATE SKIP LOCKED``), on SQLite the write lock serialises
  claims. Two senders, in one process or two, never hold the same row at once. A row stays
  ``pending`` while claimed, so an assessment can still withdraw it (``outbox.sent_though_withdrawn``).
- **Crashes.** A sender killed mid-flight leaves its claimed rows pending: each is sent again once
  its lease runs out. A message the gateway took just before the kill may so go out twice; a
  duplicate is the lesser evil against a family never told. The gateway gets the outbox id as its
  reference, so one that deduplicates on it sends the second copy to nobody.
- **Leases kept.** A claimed row is sent only while at least a fifth of its lease is left, and a
  pass claims no more than it can send within half a lease at the configured rate: a row whose
  lease ran out may be another sender's by now, so it is left to that sender.
- **Pace.** ``concurrency`` sends in flight, each waiting for a token of one bucket. ``rate`` is
  the channel's, shared by every sender of it on the database: ``run`` beats every ``pace.beat``
  seconds in ``outbox_senders`` and the bucket runs at ``rate / live`` (``core.services.sender_roll``).
  A channel with a per-recipient limit (Telegram's chats) names the key in ``partition_key``: each
  live sender then claims only its own share of the recipients.
- **Results in batches.** Outcomes are written many to a transaction (``flush_every``, or every
  ``flush_seconds``), each row locked and read afresh: a receipt that came in before the sender's
  own update keeps its "delivered", and a row withdrawn meanwhile is handled as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from sqlalchemy import func, select, update

from core.pacing import TokenBucket
from core.services.broadcasts import BroadcastTexts
from core.services.conversations import sqlite_writer
from core.services.outbox import sent_though_withdrawn
from core.services.sender_roll import HEARTBEATS_TO_JOIN, SenderRoll
from core.storage.engine import is_sqlite
from core.storage.schema import OutboxMessage
from core.storage.uow import Core, UnitOfWork

log = logging.getLogger("spsr.outbox")

# How long ``stop`` waits for the pass in progress before cancelling it.
STOP_GRACE_SECONDS = 10.0
# A claimed row is left alone once less than this share of its lease is left.
LEASE_MARGIN = 0.2
_LAST = (1 << 62, 0)  # sorts after every message: tells a worker the pass is over


@dataclass(frozen=True)
class Pace:
    """How fast a channel is sent: ``rate`` messages a second (``burst`` at once after a pause) by all
    its senders together, ``concurrency`` requests in flight in each, how results are written, and
    how often a sender beats to share the rate (``beat`` seconds)."""

    rate: float
    concurrency: int
    burst: float = 1.0
    lease: dt.timedelta = dt.timedelta(seconds=60)
    flush_every: int = 200
    flush_seconds: float = 0.25
    claim: int = 0  # rows a claim takes; 0: sized from the rate (``claim_size``)
    beat: float = 5.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.concurrency < 1 or self.burst < 1 or self.flush_every < 1 or not self.beat > 0:
            raise ValueError(f"bad pace: {self}")

    @property
    def claim_size(self) -> int:
        """Rows a claim takes: enough to keep every request busy for half a second, and no more than
        can be sent within half a lease (a claim held longer is a reply kept waiting behind it)."""
        wanted = self.claim or max(2 * self.concurrency, math.ceil(self.rate / 2))
        return max(1, min(wanted, math.floor(self.rate * self.lease.total_seconds() / 2), 1000))


@dataclass(frozen=True)
class Claimed:
    """A claimed row as plain values: what a channel needs to send it."""

    id: int
    priority: int
    template: str
    params: dict[str, Any]
    language: str
    text: str | None
    phone: str | None
    telegram_chat_id: int | None
    attempts: int
    claimed_at: float  # on the sender's monotonic clock


# What became of one send; the batch writer records it.
@dataclass(frozen=True)
class Sent:
    provider_id: str


@dataclass(frozen=True)
class Retry:
    error: str
    delay: dt.timedelta
    give_up: bool = False


@dataclass(frozen=True)
class Dead:
    error: str


@dataclass(frozen=True)
class Release:
    """Not tried (e.g. its chat is over its own rate): due again after ``delay``, no attempt counted."""

    delay: dt.timedelta


Outcome = Sent | Retry | Dead | Release


@dataclass
class SendReport:
    sent: int = 0
    rescheduled: int = 0
    to_sms: int = 0
    failed: int = 0
    deferred: int = 0
    lapsed: int = 0  # claimed, but its lease ran short before its turn: left for the next claim

    def count(self, outcome: Outcome | None) -> None:
        if isinstance(outcome, Sent):
            self.sent += 1
        elif isinstance(outcome, Retry):
            self.rescheduled += 1
        elif isinstance(outcome, Dead):
            self.failed += 1
        elif isinstance(outcome, Release):
            self.deferred += 1


async def apply_outcome(uow: UnitOfWork, row: OutboxMessage, outcome: Outcome) -> None:
    """One result on its row, read afresh under its lock (the rules the senders always kept)."""
    now = uow.now()
    if isinstance(outcome, Release):
        if row.state == "pending":
            row.next_attempt_at = now + outcome.delay
        return
    row.attempts += 1
    if isinstance(outcome, Sent):
        if row.state == "withdrawn":  # withdrawn while in hand (its family reinstated): it went all the same
            await sent_though_withdrawn(uow, row)
        # A fast gateway's receipt may have come in before this update: keep what it said.
        if row.state not in ("delivered", "failed"):
            row.state = "sent"
        row.provider_message_id, row.sent_at, row.error = outcome.provider_id, now, None
        return
    row.error = outcome.error[:200]
    if isinstance(outcome, Retry) and row.state in ("pending", "withdrawn"):
        row.next_attempt_at = now + outcome.delay
    # Only a pending row changes state: a withdrawn one is not retried, and one another sender
    # got through meanwhile (its lease lapsed here) is not put back in the queue.
    if row.state == "pending" and (isinstance(outcome, Dead) or outcome.give_up):
        row.state = "dead"


class _Results:
    """Outcomes waiting to be written, written in batches by one task."""

    def __init__(self, sender: OutboxSender) -> None:
        self.sender = sender
        self.waiting: list[tuple[int, Outcome]] = []
        self._due = asyncio.Event()
        self._closed = False
        self._task = asyncio.create_task(self._loop(), name=f"{sender.channel}-results")

    def add(self, row_id: int, outcome: Outcome) -> None:
        self.waiting.append((row_id, outcome))
        if len(self.waiting) >= self.sender.pace.flush_every:
            self._due.set()

    async def _loop(self) -> None:
        while True:
            if not self._closed:  # closing: the rest goes at once
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._due.wait(), self.sender.pace.flush_seconds)
            self._due.clear()
            await self._flush()
            if self._closed and not self.waiting:
                return

    async def _flush(self) -> None:
        batch, self.waiting = self.waiting[:self.sender.pace.flush_every], self.waiting[self.sender.pace.flush_every:]
        if not batch:
            return
        try:
            await self.sender.write(batch)
        except Exception:
            # Kept for the next flush. If none succeeds, the rows stay claimed and are sent again
            # after their lease: a duplicate, never a loss.
            log.exception("%s sender: could not record %d results; will retry", self.sender.channel, len(batch))
            self.waiting[:0] = batch
            await self.sender.sleep(min(1.0, self.sender.pace.flush_seconds * 4))
        if len(self.waiting) >= self.sender.pace.flush_every:
            self._due.set()

    async def close(self, within: float = 5 * STOP_GRACE_SECONDS) -> None:
        """Write everything left; gives up after ``within`` seconds (those rows go again after their lease)."""
        self._closed = True
        self._due.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), within)
        except TimeoutError:
            log.error("%s sender: %d results unrecorded; they are sent again after their lease",
                      self.sender.channel, len(self.waiting))
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class OutboxSender:
    """Deliver due outbox rows of ``channel``: ``run_once`` is one pass, ``run`` loops until ``stop``."""

    channel: str
    # The outbox column of the recipient a channel limits on its own (a Telegram chat): each live
    # sender claims its share of them.
    partition_key: ClassVar[str | None] = None

    def __init__(self, core: Core, pace: Pace, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.core = core
        self.pace = pace
        self.monotonic = monotonic
        self.sleep = sleep
        self.bucket = TokenBucket(pace.rate, pace.burst, monotonic, sleep)
        self.roll = SenderRoll(core, self.channel, pace.beat, monotonic)
        self.share = 1  # the live senders of this channel, this one included, as of its last beat
        self.held_until = -math.inf  # joining: no claim before this (monotonic), while the others make room
        self.wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._report = SendReport()
        self.broadcasts = BroadcastTexts()  # the texts of the broadcasts it sends, worded per row

    @property
    def pace_now(self) -> Pace:
        """This sender's share of the channel's pace."""
        if self.share == 1:
            return self.pace
        return replace(self.pace, rate=self.pace.rate / self.share, burst=max(1.0, self.pace.burst / self.share))

    async def beat(self) -> None:
        """One heartbeat (``run`` beats every ``pace.beat`` seconds): say this sender lives, count
        the live ones and take this one's share of the rate. A sender that finds others there as it
        joins claims nothing for two beats, while they lower their own shares (it claims nothing
        rather than hold claimed rows back: a reply would wait behind them)."""
        joined = await self.roll.beat(self.pace_now.rate)
        if self.roll.live != self.share:
            self.share = self.roll.live
            pace = self.pace_now
            self.bucket.set_rate(pace.rate, pace.burst)
            log.info("%s sender: live senders on the database: %d; this one sends %.4g a second",
                     self.channel, self.share, pace.rate)
        if joined and self.share > 1:
            self.held_until = self.monotonic() + HEARTBEATS_TO_JOIN * self.pace.beat

    def owns(self, key: int) -> bool:
        """Whether recipient ``key`` (``partition_key``) is this sender's, among the live senders."""
        return self.roll.owns(key)

    # --- what a channel says ---------------------------------------------------------------------

    async def prepare(self, uow: UnitOfWork, rows: Sequence[OutboxMessage]) -> list[OutboxMessage]:
        """Inside the claim: settle the rows that must not go (e.g. STOP), word the rest; returns those to send."""
        return list(rows)

    async def deliver(self, job: Claimed) -> Outcome | None:
        """Send one message (after ``go``); None when the channel recorded the result itself."""
        raise NotImplementedError

    # --- the machinery ---------------------------------------------------------------------------

    async def go(self, job: Claimed) -> bool:
        """Wait for the channel's token; False when the row's lease has run too short to send it."""
        await self.bucket.take()
        left = self.pace.lease.total_seconds() - (self.monotonic() - job.claimed_at)
        if left > self.pace.lease.total_seconds() * LEASE_MARGIN:
            return True
        self._report.lapsed += 1
        return False

    async def claim(self, size: int) -> list[Claimed]:
        async with sqlite_writer(self.core), self.core.uow(write=True) as uow:
            now = uow.now()
            query = (select(OutboxMessage)
                     .where(OutboxMessage.channel == self.channel, OutboxMessage.state == "pending",
                            OutboxMessage.next_attempt_at <= now)
                     .order_by(OutboxMessage.priority, OutboxMessage.next_attempt_at, OutboxMessage.id)
                     .limit(size))
            if self.partition_key is not None and self.roll.live > 1:
                key = OutboxMessage.__table__.c[self.partition_key]
                query = query.where(func.abs(key) % self.roll.live == self.roll.place)
            if not is_sqlite(self.core.engine):
                query = query.with_for_update(skip_locked=True)
            found = (await uow.session.scalars(query)).all()
            await self.broadcasts.load(uow, found)
            rows = await self.prepare(uow, [r for r in found if self._wordable(r)])
            if rows:
                await uow.session.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
                    .values(next_attempt_at=now + self.pace.lease).execution_options(synchronize_session=False))
            stamp = self.monotonic()
            jobs = [Claimed(r.id, r.priority, r.template, self.broadcasts.params(r), r.language, r.text, r.phone,
                            r.telegram_chat_id, r.attempts, stamp) for r in rows]
            await uow.commit()
            return jobs

    def _wordable(self, row: OutboxMessage) -> bool:
        """False (and the row dead) for a broadcast row whose broadcast is gone: nothing to say."""
        if BroadcastTexts.broadcast_of(row) is None or "text" in self.broadcasts.params(row):
            return True
        row.state, row.error = "dead", "no such broadcast"
        return False

    async def write(self, batch: Sequence[tuple[int, Outcome]]) -> None:
        """Record many outcomes in one transaction, each row locked (in id order) and read afresh."""
        ids = sorted({row_id for row_id, _ in batch})
        async with sqlite_writer(self.core), self.core.uow(write=True) as uow:
            # Locked: a receipt for one of these may be recorded at the same moment, and the state
            # it wrote must not be overwritten from a stale read (a lost receipt, seen under load).
            rows = {r.id: r for r in (await uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
                .with_for_update().execution_options(populate_existing=True))).all()}
            for row_id, outcome in batch:
                await apply_outcome(uow, rows[row_id], outcome)
            await uow.commit()

    async def run_once(self, limit: int | None = None) -> SendReport:
        """Send what is due now (at most ``limit``), claiming as the sends go; returns what happened."""
        report = self._report = SendReport()
        queue: asyncio.PriorityQueue[tuple[tuple[int, int], Claimed | None]] = asyncio.PriorityQueue()
        took = asyncio.Event()
        results = _Results(self)

        async def claimer() -> None:
            claimed = 0
            try:  # a failed claim ends the pass once the sends in hand are done
                while not self._stopping.is_set() and (limit is None or claimed < limit):
                    if self.monotonic() < self.held_until:
                        break  # joining: the others have not all made room yet
                    size = self.pace_now.claim_size  # the share may change at a beat
                    if queue.qsize() > size // 2:
                        took.clear()
                        await took.wait()
                        continue
                    want = size - queue.qsize() if limit is None else min(size - queue.qsize(), limit - claimed)
                    jobs = await self.claim(want)
                    claimed += len(jobs)
                    for job in jobs:
                        queue.put_nowait(((job.priority, job.id), job))
                    if len(jobs) < want:
                        break  # nothing more is due now
            finally:
                for _ in range(self.pace.concurrency):
                    queue.put_nowait((_LAST, None))

        async def worker() -> None:
            while True:
                _, job = await queue.get()
                took.set()
                if job is None:
                    return
                if self._stopping.is_set():  # not begun: due again at once, for whoever sends next
                    results.add(job.id, Release(dt.timedelta(0)))
                    continue
                outcome = await self.deliver(job)
                report.count(outcome)
                if outcome is not None:
                    results.add(job.id, outcome)

        try:
            ended = await asyncio.gather(claimer(), *(worker() for _ in range(self.pace.concurrency)),
                                         return_exceptions=True)
        finally:
            await results.close()
        for error in ended:
            if isinstance(error, BaseException):
                raise error
        return report

    async def run(self, idle_seconds: float = 1.0) -> None:
        """Loop until ``stop``, beating among the channel's senders; errors are logged and the loop goes on."""
        beating: asyncio.Task[None] | None = None
        try:
            await self._beat_logged()  # joined before the first claim: the others know of this one
            beating = asyncio.create_task(self._keep_beating(), name=f"{self.channel}-heartbeat")
            while not self._stopping.is_set():
                try:
                    report = await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s sender pass failed", self.channel)
                    report = SendReport()
                if report.sent or report.rescheduled or report.to_sms:
                    continue
                self.wake.clear()
                if self._stopping.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), idle_seconds)
        finally:
            if beating is not None:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating
            await self._leave()

    async def _keep_beating(self) -> None:
        # Real time, not the pace's ``sleep``: a test's virtual clock moves only when the pace sleeps.
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.pace.beat)
            if not self._stopping.is_set():
                await self._beat_logged()

    async def _beat_logged(self) -> None:
        try:
            await self.beat()
        except asyncio.CancelledError:
            raise
        except Exception:  # the share held at the last beat stands; the next beat tries again
            log.exception("%s sender: heartbeat failed", self.channel)

    async def _leave(self) -> None:
        """After the last send is recorded: the others take this sender's share at their next beat."""
        try:
            await self.roll.leave()
        except Exception:
            log.exception("%s sender: could not leave the roll; the others take its share after the timeout",
                          self.channel)

    async def stop(self, task: asyncio.Task[None], grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop ``task`` (running ``run``): the pass in progress sends what it began, records the
        results and hands back the rest; only a pass still running after ``grace`` is cancelled.
        A pass cancelled in the middle of a query, or of aiosqlite's connect, leaves that connection
        to be closed from aiosqlite's worker thread, unawaited, into an event loop that may be gone."""
        self._stopping.set()
        self.wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            log.warning("%s sender pass still running after %.0f s; cancelling it", self.channel, grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._stopping.clear()  # stopped: a pass run by hand afterwards (tests do) sends again
