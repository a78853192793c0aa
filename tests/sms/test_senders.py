"""The outbox senders' pace and guarantees: the rate kept (on a virtual clock), requests in flight
bounded, two senders never sending one message, a killed sender's messages sent after their lease,
failures retried with backoff, replies first, STOP honoured, results written in batches."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import pytest
from sqlalchemy import select

from core.clock import FixedClock, in_tashkent
from core.services import outbox
from core.services.dispatch import Outcome, Pace
from core.services.sms import SmsSender, handle_inbound, send_due
from core.storage.schema import OutboxMessage
from core.storage.uow import Core
from tests.storage.factories import make_family

pytestmark = pytest.mark.postgres

FAST = Pace(rate=1_000_000, concurrency=4)


class VirtualTime:
    """A monotonic clock that moves only when a sender sleeps: a sleep ends at its own wake time."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        wake = self.t + seconds
        await asyncio.sleep(0)
        self.t = max(self.t, wake)


class Gateway:
    """Records each submission (reference, virtual time) and the most requests it held at once."""

    def __init__(self, now: VirtualTime | None = None, pause: float = 0.0) -> None:
        self.now = now
        self.pause = pause
        self.sent: list[tuple[str, float]] = []
        self.texts: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail: dict[str, int] = {}  # reference → how many more submissions of it fail

    async def send(self, phone: str, text: str, reference: str) -> str:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.fail.get(reference, 0) > 0:
                self.fail[reference] -= 1
                raise ConnectionError("gateway down")
            self.sent.append((reference, self.now() if self.now else 0.0))
            self.texts.append(text)
            await asyncio.sleep(self.pause)
            return f"gw-{reference}"
        finally:
            self.in_flight -= 1

    @property
    def references(self) -> list[str]:
        return [r for r, _ in self.sent]


async def notices(core: Core, count: int, priority: int = outbox.PRIORITY_NOTICE, first_phone: int = 0) -> list[int]:
    async with core.uow() as uow:
        rows = []
        for n in range(first_phone, first_phone + count):
            row = await outbox.enqueue(uow, "enrolment.ended", {}, priority=priority,
                                       route=outbox.Route("sms", f"+99890{n:07d}", None, "uz"))
            assert row is not None
            rows.append(row)
        await uow.session.flush()
        ids = [r.id for r in rows]
        await uow.commit()
        return ids


async def states(core: Core) -> dict[int, tuple[str, int]]:
    async with core.uow() as uow:
        return {r.id: (r.state, r.attempts) for r in (await uow.session.scalars(select(OutboxMessage))).all()}


async def test_the_rate_is_kept_however_many_requests_are_in_flight(core: Core) -> None:
    await notices(core, 30)
    now = VirtualTime()
    gateway = Gateway(now)
    sender = SmsSender(core, gateway, Pace(rate=10, concurrency=4), monotonic=now, sleep=now.sleep)
    assert (await sender.run_once()).sent == 30
    times = sorted(t for _, t in gateway.sent)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.1 - 1e-9  # ten a second, never two closer than a tenth of a second
    assert times[-1] - times[0] == pytest.approx(2.9)  # and no slower


async def test_telegram_keeps_30_a_second_overall_after_its_burst(core: Core) -> None:
    from bots.sender import TelegramSender

    for n in range(45):
        async with core.uow() as uow:
            await outbox.enqueue(uow, "enrolment.ended", {}, route=outbox.Route("telegram", None, 7000 + n, "uz"))
            await uow.commit()
    now = VirtualTime()
    released: list[float] = []

    class Bot:
        async def send_message(self, chat_id: int, text: str, reply_markup: object = None) -> object:
            released.append(now())
            return type("Message", (), {"message_id": chat_id})()

    sender = TelegramSender(core, Bot(), concurrency=5, monotonic=now, sleep=now.sleep)  # type: ignore[arg-type]
    assert (await sender.run_once()).sent == 45
    # A second's worth (30) at once, then one every 1/30 s: 15 more take half a second.
    assert released.count(1000.0) == 30
    assert max(released) - 1000.0 == pytest.approx(0.5)
    for a, b in zip(sorted(released)[30:], sorted(released)[31:], strict=False):
        assert b - a >= 1 / 30 - 1e-9


async def test_requests_in_flight_are_bounded_by_the_concurrency(core: Core) -> None:
    await notices(core, 40)
    gateway = Gateway(pause=0.005)
    assert await send_due(core, gateway, pace=Pace(rate=1_000_000, concurrency=3)) == 40
    assert gateway.most_in_flight == 3
    one = Gateway(pause=0.001)
    await notices(core, 5, first_phone=100)
    assert await send_due(core, one, pace=Pace(rate=1_000_000, concurrency=1)) == 5
    assert one.most_in_flight == 1


async def test_two_senders_at_once_never_send_the_same_message(core: Core, second_core: Core) -> None:
    ids = await notices(core, 120)
    gateway = Gateway(pause=0.01)
    small = Pace(rate=1_000_000, concurrency=3, flush_every=7, claim=6)  # small claims: the two meet often
    one, two = await asyncio.gather(SmsSender(core, gateway, small).run_once(),
                                    SmsSender(second_core, gateway, small).run_once())
    assert sorted(gateway.references, key=int) == [str(i) for i in ids]  # each exactly once
    assert one.sent + two.sent == 120 and one.sent and two.sent
    assert set((await states(core)).values()) == {("sent", 1)}


async def test_a_killed_senders_messages_are_sent_after_their_lease(core: Core, clock: FixedClock) -> None:
    ids = await notices(core, 6)
    stuck = asyncio.Event()

    class Hanging(Gateway):
        async def send(self, phone: str, text: str, reference: str) -> str:
            stuck.set()
            await asyncio.Event().wait()  # the process dies with these requests in the air
            raise AssertionError

    lease = dt.timedelta(seconds=60)
    killed = asyncio.create_task(SmsSender(core, Hanging(), Pace(rate=1000, concurrency=6, lease=lease)).run_once())
    await stuck.wait()
    await asyncio.sleep(0.05)
    killed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await killed
    assert set((await states(core)).values()) == {("pending", 0)}  # nothing lost, nothing marked
    gateway = Gateway()
    assert await send_due(core, gateway) == 0  # still leased: another sender leaves them alone
    clock.advance(lease - dt.timedelta(seconds=1))
    assert await send_due(core, gateway) == 0
    clock.advance(dt.timedelta(seconds=2))
    assert await send_due(core, gateway) == 6
    assert sorted(gateway.references, key=int) == [str(i) for i in ids]


async def test_a_claim_too_old_to_send_is_left_to_the_next_claim(core: Core, clock: FixedClock) -> None:
    """A message that waited in the sender until its lease ran short may be another sender's by now."""
    ids = await notices(core, 2)
    now = VirtualTime()

    class Slow(Gateway):
        async def send(self, phone: str, text: str, reference: str) -> str:
            now.t += 55  # a stall: the second message's lease (60 s) runs short meanwhile
            return await super().send(phone, text, reference)

    gateway = Slow(now)
    sender = SmsSender(core, gateway, Pace(rate=1000, concurrency=1), monotonic=now, sleep=now.sleep)
    report = await sender.run_once()
    assert (report.sent, report.lapsed) == (1, 1) and gateway.references == [str(ids[0])]
    assert (await states(core))[ids[1]] == ("pending", 0)
    clock.advance(dt.timedelta(seconds=61))
    assert await send_due(core, Gateway()) == 1


async def test_failures_are_retried_with_growing_backoff_then_given_up(core: Core, clock: FixedClock) -> None:
    ok, flaky, broken = await notices(core, 3)
    gateway = Gateway()
    gateway.fail = {str(flaky): 2, str(broken): 100}
    assert await send_due(core, gateway, pace=FAST) == 1
    async with core.uow() as uow:
        row = await uow.session.get(OutboxMessage, flaky)
        assert row is not None and (row.state, row.attempts, row.error) == ("pending", 1, "gateway down")
        assert in_tashkent(row.next_attempt_at) - clock.now() == dt.timedelta(seconds=15)
    assert await send_due(core, gateway, pace=FAST) == 0  # not before its backoff
    clock.advance(dt.timedelta(seconds=15))
    assert await send_due(core, gateway, pace=FAST) == 0  # failed again: now it waits 45 s
    clock.advance(dt.timedelta(seconds=44))
    assert await send_due(core, gateway, pace=FAST) == 0
    clock.advance(dt.timedelta(seconds=1))
    assert await send_due(core, gateway, pace=FAST) == 1
    for _ in range(6):
        clock.advance(dt.timedelta(hours=1))
        await send_due(core, gateway, pace=FAST)
    found = await states(core)
    assert found[ok] == ("sent", 1) and found[flaky] == ("sent", 3) and found[broken] == ("dead", 6)
    assert gateway.references.count(str(flaky)) == 1


async def test_replies_go_before_the_notices_queued_ahead_of_them(core: Core) -> None:
    await notices(core, 40)
    replies = await notices(core, 2, priority=outbox.PRIORITY_REPLY, first_phone=500)
    gateway = Gateway()
    assert await send_due(core, gateway, pace=Pace(rate=1_000_000, concurrency=4)) == 42
    assert gateway.references[:2] == [str(r) for r in replies]


async def test_stop_is_honoured_for_every_notice_of_a_claim(core: Core) -> None:
    household_id, _ = await make_family(core, phone="+998901234567")
    stop = await handle_inbound(core, "+998901234567", "STOP", "in-1")
    async with core.uow() as uow:  # queued before the STOP, as an assessment's notices may be
        stopped_notice = await outbox.enqueue(uow, "enrolment.ended", {},
                                              route=outbox.Route("sms", "+998901234567", None, "uz"))
        await uow.session.flush()
        stopped_id = stopped_notice.id if stopped_notice else 0
        await uow.commit()
    others = await notices(core, 10)
    gateway = Gateway()
    assert await send_due(core, gateway, pace=FAST) == 11
    assert str(stopped_id) not in gateway.references and str(stop.outbox_id) in gateway.references
    async with core.uow() as uow:
        row = await uow.session.get(OutboxMessage, stopped_id)
        assert row is not None and (row.state, row.error) == ("dead", "stopped")
    assert {(await states(core))[i] for i in others} == {("sent", 1)}


async def test_results_are_written_many_to_a_transaction(core: Core) -> None:
    await notices(core, 50)
    writes: list[int] = []

    class Counting(SmsSender):
        async def write(self, batch: Sequence[tuple[int, Outcome]]) -> None:
            writes.append(len(batch))
            await super().write(batch)

    sender = Counting(core, Gateway(), Pace(rate=1_000_000, concurrency=4, flush_every=20, flush_seconds=30))
    assert (await sender.run_once()).sent == 50
    assert writes == [20, 20, 10]
    assert set((await states(core)).values()) == {("sent", 1)}


async def test_stopping_hands_back_what_was_claimed_but_not_begun(core: Core, clock: FixedClock) -> None:
    ids = await notices(core, 30)
    gateway = Gateway(pause=0.02)
    sender = SmsSender(core, gateway, Pace(rate=1_000_000, concurrency=2))
    task = asyncio.create_task(sender.run(idle_seconds=3600))
    while len(gateway.sent) < 2:
        await asyncio.sleep(0.005)
    await sender.stop(task)
    assert task.done() and not task.cancelled()
    found = await states(core)
    sent = {int(r) for r in gateway.references}
    assert 2 <= len(sent) < 30 and all(found[i] == ("sent", 1) for i in sent)
    assert all(found[i] == ("pending", 0) for i in ids if i not in sent)
    # Handed back, not left leased: another sender takes them at once.
    rest = Gateway()
    assert await send_due(core, rest) == 30 - len(sent)


async def test_results_the_database_refused_are_written_at_the_next_flush(core: Core) -> None:
    ids = await notices(core, 12)
    refusals = [2]

    class Refused(SmsSender):
        async def write(self, batch: Sequence[tuple[int, Outcome]]) -> None:
            if refusals[0] > 0:  # the database is away for a moment
                refusals[0] -= 1
                raise ConnectionError("database unreachable")
            await super().write(batch)

    now = VirtualTime()  # the pause before writing again passes at once
    sender = Refused(core, Gateway(), Pace(rate=1_000_000, concurrency=3, flush_every=5),
                     monotonic=now, sleep=now.sleep)
    assert (await sender.run_once()).sent == 12
    assert refusals == [0]
    assert {(await states(core))[i] for i in ids} == {("sent", 1)}
