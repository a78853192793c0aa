"""The roll of a channel's live senders, so that all of them together keep to the channel's rate.

A channel's rate (``SPSR_SMS_PER_SECOND``, ``SPSR_TELEGRAM_PER_SECOND``) is the account's, not a
process's. Every sender keeps a row in ``outbox_senders`` (migration 0016) and beats every few
seconds (``Pace.beat``): it adds one to its row's count, reads the counts of its channel's other
rows and takes ``1 / live`` of the rate. No message costs a round trip; a beat is one short
transaction and one read.

- **Liveness without shared clocks.** A peer is alive while its count moves and dead once this
  sender has seen the same count for ``HEARTBEATS_TO_DIE`` beats on its own monotonic clock
  (``core.pacing.PeerWatch``). Wall clocks of different machines are never compared: a machine
  whose clock is off is neither counted dead while it sends nor kept alive after it crashed.
- **Clean stop.** A sender that stops removes its row once its last send is recorded; the others
  take its share at their next beat, without waiting for the timeout.
- **Crash.** A crashed sender's row stops counting; after the timeout the first peer to notice
  deletes it (only if its count is still the one seen: a sender that was merely slow and beat
  meanwhile keeps its row), and every peer takes its share back.
- **Joining.** A sender that finds others live when it writes its row claims nothing for two
  beats, so each of them has beaten, seen it and lowered its own share: the channel never runs at
  more than its rate while a sender joins. A sender whose row was removed (it stalled past the
  timeout) writes it again at its next beat and waits the same way.
- **Places.** The live senders, sorted by id, each know their place; a channel whose messages go
  to one recipient at a limited pace (a Telegram chat, 1 a second) gives each sender the
  recipients whose key modulo ``live`` is its place, so one chat is only ever sent to by one
  sender and that sender's own per-chat bucket is enough.

What the roll cannot see: a sender stalled for longer than the timeout (a frozen VM) is counted
dead, and on waking it sends at its old share until its next beat; peers that judge a crash at
different beats hold different counts for up to one beat (the total is then below the rate).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable

from sqlalchemy import and_, delete, or_, select, update

from core.pacing import PeerWatch
from core.services.conversations import sqlite_writer
from core.storage.schema import LiveSender
from core.storage.uow import Core

# A peer whose count has not moved for this many beats is dead.
HEARTBEATS_TO_DIE = 3
# A joining sender waits this many beats before its first send (see the module's docstring).
HEARTBEATS_TO_JOIN = 2


class SenderRoll:
    """This sender's row among its channel's live senders: ``beat`` every ``beat`` seconds, ``leave`` at the end."""

    def __init__(self, core: Core, channel: str, beat: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.core = core
        self.channel = channel
        self.id = uuid.uuid4().hex
        self.monotonic = monotonic
        self.watch = PeerWatch(timeout=HEARTBEATS_TO_DIE * beat)
        self.members: tuple[str, ...] = (self.id,)  # the live senders, this one included, by id

    @property
    def live(self) -> int:
        return len(self.members)

    @property
    def place(self) -> int:
        return self.members.index(self.id)

    def owns(self, key: int) -> bool:
        """Whether the recipient ``key`` (a chat id) is this sender's to send to."""
        return self.live == 1 or abs(key) % self.live == self.place

    async def beat(self, per_second: float) -> bool:
        """Count one heartbeat and read the roll again; True when this sender's row was written
        afresh (it joins, or its row was removed while it stalled)."""
        async with sqlite_writer(self.core), self.core.uow(write=True) as uow:
            now = uow.now()
            done = await uow.session.execute(
                update(LiveSender).where(LiveSender.id == self.id)
                .values(beats=LiveSender.beats + 1, beat_at=now, live=self.live, per_second=per_second)
                .execution_options(synchronize_session=False))
            joined = getattr(done, "rowcount", 0) == 0
            if joined:
                uow.session.add(LiveSender(id=self.id, channel=self.channel, host=socket.gethostname()[:255],
                                           pid=os.getpid(), started_at=now, beat_at=now, beats=1,
                                           live=self.live, per_second=per_second))
            await uow.commit()
        # Read after the commit, never in the same transaction: of two senders joining at once,
        # the later reader then sees the other's row, and holds back.
        async with self.core.uow(read_only=True) as uow:
            peers = [(peer, beats) for peer, beats in (await uow.session.execute(
                select(LiveSender.id, LiveSender.beats)
                .where(LiveSender.channel == self.channel, LiveSender.id != self.id))).all()]
        live, dead = self.watch.look(peers, self.monotonic())
        if dead:
            async with sqlite_writer(self.core), self.core.uow(write=True) as uow:
                await uow.session.execute(delete(LiveSender).where(or_(*(
                    and_(LiveSender.id == peer, LiveSender.beats == beats) for peer, beats in dead))))
                await uow.commit()
        self.members = tuple(sorted([self.id, *live]))
        return joined

    async def leave(self) -> None:
        """Remove this sender's row: the others take its share at their next beat."""
        async with sqlite_writer(self.core), self.core.uow(write=True) as uow:
            await uow.session.execute(delete(LiveSender).where(LiveSender.id == self.id))
            await uow.commit()
        self.members = (self.id,)
