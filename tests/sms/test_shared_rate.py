"""Senders on one database share their channel's rate: two send at the configured rate together, a
crashed one's share returns after the timeout, a clean stop hands its share over at the next beat,
a joiner claims nothing while the others make room, and two Telegram senders never send to one chat.

Each sender runs on its own virtual clock (as each process has its own monotonic clock), which
moves only when that sender's pace sleeps: its timeline is exact whatever the machine's load, and
the two timelines, from one start, are what the gateway would see from two processes."""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt

import pytest
from sqlalchemy import select

from bots.sender import TelegramSender
from core.clock import FixedClock
from core.services import outbox
from core.services.dispatch import Claimed, OutboxSender, Pace, Release
from core.services.sender_roll import HEARTBEATS_TO_DIE, HEARTBEATS_TO_JOIN
from core.services.sms import SmsSender
from core.storage.schema import LiveSender
from core.storage.uow import Core
from tests.sms.test_senders import Gateway, VirtualTime, notices, states

pytestmark = pytest.mark.postgres

RATE = 20.0
BEAT = Pace(rate=RATE, concurrency=1).beat
JOIN = HEARTBEATS_TO_JOIN * BEAT


async def joined(*senders: OutboxSender) -> None:
    """Each beats twice, in turn: every one has seen every other."""
    for _ in range(2):
        for sender in senders:
            await sender.beat()


async def roll(core: Core) -> list[str]:
    async with core.uow() as uow:
        return sorted((await uow.session.scalars(select(LiveSender.id))).all())


def spacing(gateway: Gateway) -> list[float]:
    times = sorted(t for _, t in gateway.sent)
    return [b - a for a, b in zip(times, times[1:], strict=False)]


async def test_two_senders_on_one_database_send_at_the_configured_rate_together(core: Core,
                                                                               second_core: Core) -> None:
    ids = await notices(core, 240)
    pace = Pace(rate=RATE, concurrency=4)
    clocks = VirtualTime(), VirtualTime()
    # A real moment per send, as a network takes: the two claim in turn.
    gateways = Gateway(clocks[0], pause=0.002), Gateway(clocks[1], pause=0.002)
    a, b = (SmsSender(c, gateway, pace, monotonic=t, sleep=t.sleep)
            for c, gateway, t in zip((core, second_core), gateways, clocks, strict=True))
    await joined(a, b)
    assert (a.share, b.share) == (2, 2) and a.bucket.rate == b.bucket.rate == RATE / 2
    for t in clocks:
        t.t += JOIN + 1  # past b's wait as it joined
    start = clocks[0].t
    # Half each at most: on a loaded machine one SQLite connection may win the write lock for a
    # while, and the window in which both send (the measure) would shrink.
    one, two = await asyncio.gather(a.run_once(limit=120), b.run_once(limit=120))

    # Nothing sent twice, nothing lost.
    assert sorted(gateways[0].references + gateways[1].references, key=int) == [str(i) for i in ids]
    assert set((await states(core)).values()) == {("sent", 1)}
    assert (one.sent, two.sent) == (120, 120)
    # Each at half the rate; together, while both had messages, at the rate: never more in a second.
    assert min(spacing(gateways[0]) + spacing(gateways[1])) >= 2 / RATE - 1e-9
    end = min(max(t for _, t in gateway.sent) for gateway in gateways)
    both = sorted(t for gateway in gateways for _, t in gateway.sent if t <= end)
    assert len(both) == pytest.approx(RATE * (end - start), abs=2.5)
    assert max(bisect.bisect_left(both, t + 1 - 1e-6) - i for i, t in enumerate(both)) <= RATE


async def test_a_crashed_senders_share_returns_to_the_others_after_the_timeout(core: Core,
                                                                              second_core: Core) -> None:
    pace = Pace(rate=RATE, concurrency=2)
    ta, tb = VirtualTime(), VirtualTime()
    gateway = Gateway(ta)
    a = SmsSender(core, gateway, pace, monotonic=ta, sleep=ta.sleep)
    b = SmsSender(second_core, Gateway(tb), pace, monotonic=tb, sleep=tb.sleep)
    await joined(a, b)
    await a.beat()  # a has seen b's last beat; then b dies (killed: it leaves its row behind)
    for _ in range(HEARTBEATS_TO_DIE - 1):
        ta.t += BEAT
        await a.beat()
        assert (a.share, a.bucket.rate) == (2, RATE / 2)  # a late beat is no death
    ta.t += BEAT
    await a.beat()
    assert (a.share, a.bucket.rate) == (1, RATE)
    assert await roll(core) == [a.roll.id]  # and its row is gone

    ids = await notices(core, 30)
    assert (await a.run_once()).sent == 30
    assert sorted(gateway.references, key=int) == [str(i) for i in ids]
    assert min(spacing(gateway)) >= 1 / RATE - 1e-9 and sum(spacing(gateway)) == pytest.approx(29 / RATE)

    # Taken for dead while only stalled (a frozen machine), b writes its row again at its next
    # beat, and claims nothing until a has made room.
    await b.beat()
    assert b.share == 2 and b.held_until == tb.t + JOIN
    await notices(core, 5, first_phone=100)
    assert (await b.run_once()).sent == 0
    await a.beat()
    assert a.share == 2


async def test_a_clean_stop_hands_its_share_over_at_the_next_beat(core: Core, second_core: Core) -> None:
    ta = VirtualTime()
    gateway = Gateway(ta)
    a = SmsSender(core, gateway, Pace(rate=RATE, concurrency=2), monotonic=ta, sleep=ta.sleep)
    await a.beat()
    # b runs as `spsr serve` runs it, on the real clock: it joins, finds a, and waits to send.
    late = Gateway()
    b = SmsSender(second_core, late, Pace(rate=RATE, concurrency=2))
    task = asyncio.create_task(b.run(idle_seconds=3600))
    while len(await roll(core)) < 2:
        await asyncio.sleep(0.01)
    ids = await notices(core, 10)
    b.wake.set()  # a reply came in: b looks at once, and claims nothing while a makes room
    await a.beat()
    assert (a.share, a.bucket.rate) == (2, RATE / 2)
    await b.stop(task)
    assert task.done() and not task.cancelled() and late.sent == []
    assert await roll(core) == [a.roll.id]
    await a.beat()  # no time has passed on a's clock: the row is gone, no timeout waited for
    assert (a.share, a.bucket.rate) == (1, RATE)
    assert (await a.run_once()).sent == 10  # nothing b saw is lost
    assert sorted(gateway.references, key=int) == [str(i) for i in ids]


class Bot:
    """A Bot API that records which sender sent to which chat, and when."""

    def __init__(self, sender: int, now: VirtualTime, log: list[tuple[int, int, float, str]]) -> None:
        self.sender, self.now, self.log = sender, now, log

    async def send_message(self, chat_id: int, text: str, reply_markup: object = None) -> object:
        self.log.append((self.sender, chat_id, self.now(), text))
        return type("Message", (), {"message_id": len(self.log)})()


async def test_two_telegram_senders_never_send_to_one_chat(core: Core, second_core: Core, clock: FixedClock) -> None:
    chats = [7000 + n for n in range(12)] + [-1001234567890]  # a group's id is negative
    async with core.uow() as uow:
        for _ in range(3):
            for chat in chats:
                await outbox.enqueue(uow, "telegram.reply", {}, priority=outbox.PRIORITY_NOTICE,
                                     route=outbox.Route("telegram", None, chat, "uz"))
        await uow.commit()
    queued = len(await states(core))
    clocks = VirtualTime(), VirtualTime()
    sent: list[tuple[int, int, float, str]] = []
    a, b = (TelegramSender(c, Bot(n, t, sent), concurrency=3, monotonic=t, sleep=t.sleep)  # type: ignore[arg-type]
            for n, (c, t) in enumerate(zip((core, second_core), clocks, strict=True)))
    await joined(a, b)
    for t in clocks:
        t.t += JOIN + 1
    for _ in range(6):  # a chat gets one message a second: a pass sends each chat one, the rest wait
        await asyncio.gather(a.run_once(), b.run_once())
        clock.advance(dt.timedelta(seconds=2))
        for t in clocks:
            t.t += 2

    assert len(sent) == queued and set((await states(core)).values()) == {("sent", 1)}
    senders_of = {chat: {who for who, to, _, _ in sent if to == chat} for chat in chats}
    assert all(len(who) == 1 for who in senders_of.values()), senders_of
    assert {who for (who,) in senders_of.values()} == {0, 1}  # both had chats
    # A row claimed before the other sender joined is handed to it, not sent.
    theirs = next(chat for chat, (who,) in senders_of.items() if who == 1)
    job = Claimed(1, 10, "telegram.reply", {}, "uz", "Salom", None, theirs, 0, clocks[0].t)
    assert await a.deliver(job) == Release(dt.timedelta(0))
