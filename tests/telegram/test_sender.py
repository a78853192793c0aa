"""The outbox sender: priorities, rate limits, a 429 storm, a person who blocked the bot, and stopping."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from sqlalchemy import event, select, text

from bots.sender import SendReport, TelegramSender
from bots.webhook import BOT
from core.services import outbox
from core.storage.schema import Contact, OutboxMessage
from tests.storage.factories import make_family
from tests.telegram.conftest import CHAT, Harness

pytestmark = pytest.mark.postgres


async def link(bot: Harness, household_id: int, chat_id: int) -> None:
    async with bot.core.uow() as uow:
        c = await uow.session.get(Contact, household_id)
        assert c is not None
        c.telegram_chat_id = chat_id
        await uow.commit()


async def queue(bot: Harness, household_id: int, priority: int, number: str) -> None:
    async with bot.core.uow() as uow:
        await outbox.enqueue(uow, "grievance.answered", {"number": number, "answer": "Tekshirildi."},
                             household_id=household_id, priority=priority)
        await uow.commit()


async def rows(bot: Harness) -> list[OutboxMessage]:
    async with bot.core.uow() as uow:
        found = list((await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())
        uow.session.expunge_all()
        return found


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_replies_before_bulk_and_one_message_a_second_per_chat(bot: Harness) -> None:
    hid, _ = await make_family(bot.core, phone="+998901234567")
    await link(bot, hid, 1001)
    await queue(bot, hid, outbox.PRIORITY_BULK, "111222333")
    await queue(bot, hid, outbox.PRIORITY_REPLY, "444555666")
    t = FakeTime()
    sender = TelegramSender(bot.core, bot.app[BOT].bot, monotonic=t)
    first = await sender.run_once()
    assert (first.sent, first.deferred) == (1, 1)
    assert "444-555-666" in bot.fake.sent(1001)[0]["text"]
    bot.core.clock.advance(dt.timedelta(seconds=2))  # type: ignore[attr-defined]
    t.t += 2
    second = await sender.run_once()
    assert second.sent == 1
    assert "111-222-333" in bot.fake.sent(1001)[1]["text"]


async def test_a_429_storm_reschedules_without_freezing_other_chats(bot: Harness) -> None:
    a, _ = await make_family(bot.core, phone="+998901234567")
    b, _ = await make_family(bot.core, phone="+998911234567")
    await link(bot, a, 2001)
    await link(bot, b, 2002)
    await queue(bot, a, outbox.PRIORITY_NOTICE, "100200300")
    await queue(bot, b, outbox.PRIORITY_NOTICE, "400500600")
    bot.fake.rate_limit(times=1, retry_after=5)
    report = await bot.deliver_outbox()
    assert (report.rescheduled, report.sent) == (1, 1)
    # Two requests are in flight at once: whichever reached the Bot API first took the 429.
    (held,) = [r for r in await rows(bot) if r.state == "pending"]
    assert held.attempts == 1 and "429" in (held.error or "")
    assert sorted(r.state for r in await rows(bot)) == ["pending", "sent"]
    # Not before retry_after has passed.
    assert (await bot.deliver_outbox()).sent == 0
    bot.core.clock.advance(dt.timedelta(seconds=6))  # type: ignore[attr-defined]
    assert (await bot.deliver_outbox()).sent == 1
    assert all(r.state == "sent" for r in await rows(bot))


async def test_a_blocked_user_falls_back_to_sms(bot: Harness) -> None:
    hid, _ = await make_family(bot.core, phone="+998901234567")
    await link(bot, hid, 3001)
    await queue(bot, hid, outbox.PRIORITY_REPLY, "700800900")
    bot.fake.blocked.add(3001)
    report = await bot.deliver_outbox()
    assert report.to_sms == 1
    (row,) = await rows(bot)
    assert (row.channel, row.state, row.phone, row.telegram_chat_id) == ("sms", "pending", "+998901234567", None)
    async with bot.core.uow() as uow:
        c = await uow.session.get(Contact, hid)
        assert c is not None and c.telegram_blocked is True
    # New notices now route to SMS.
    await queue(bot, hid, outbox.PRIORITY_NOTICE, "123456789")
    assert (await rows(bot))[-1].channel == "sms"


LANGS = [("Oʻzbekcha", "uz"), ("Qaraqalpaqsha", "kaa"), ("Русский", "ru")]


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_a_429_storm_in_the_middle_of_a_conversation(bot: Harness, language: str, code: str) -> None:
    """Telegram says wait while the bot answers: the answer, buttons and all, comes after retry_after."""
    await bot.say("/start")
    await bot.press(language)
    home = bot.buttons()
    bot.fake.rate_limit("editMessageText", times=1, retry_after=3)
    bot.fake.rate_limit("sendMessage", times=1, retry_after=3)
    await bot.press(home[4])  # Language: both the edit and the new message get 429
    (held,) = [r for r in await rows(bot) if r.template == "telegram.reply"]
    assert (held.state, held.priority, held.language) == ("pending", outbox.PRIORITY_REPLY, code)
    # Other chats are not frozen meanwhile.
    await bot.say("/start", chat=CHAT + 1)
    assert bot.buttons(CHAT + 1)[:3] == ["Oʻzbekcha", "Qaraqalpaqsha", "Русский"]
    # Not before retry_after; then the held answer arrives with its buttons, and they work.
    assert (await bot.deliver_outbox()).sent == 0
    bot.core.clock.advance(dt.timedelta(seconds=4))  # type: ignore[attr-defined]
    assert (await bot.deliver_outbox()).sent == 1
    assert bot.last_text() == held.text and bot.buttons() != home
    await bot.press(bot.buttons()[-1])  # 🏠 Main menu, from the held answer
    assert bot.buttons() == home


async def test_a_person_who_blocked_the_bot_gets_sms_until_they_come_back(bot: Harness) -> None:
    hid, _ = await make_family(bot.core, phone="+998901234567")
    await bot.say("/start")
    await bot.press("Qaraqalpaqsha")
    await bot.share("+998901234567")
    bot.fake.blocked.add(CHAT)
    await queue(bot, hid, outbox.PRIORITY_NOTICE, "700800900")
    assert (await bot.deliver_outbox()).to_sms == 1
    notice = (await rows(bot))[-1]
    assert (notice.channel, notice.phone, notice.language) == ("sms", "+998901234567", "kaa")
    # They unblock the bot and write again: notices come to Telegram again.
    bot.fake.blocked.discard(CHAT)
    await bot.say("/help")
    await queue(bot, hid, outbox.PRIORITY_NOTICE, "123456789")
    assert (await rows(bot))[-1].channel == "telegram"
    assert (await bot.deliver_outbox()).sent == 1
    assert "123-456-789" in bot.last_text()


async def test_stopping_the_sender_lets_the_pass_in_progress_finish(bot: Harness) -> None:
    """``stop`` cuts short only the pause between passes. A pass cancelled in a query, or in
    aiosqlite's connect, leaves its connection to be closed from aiosqlite's worker thread, unawaited;
    the thread then reported into the test's closed event loop, and the next test failed on it."""
    invalidated: list[BaseException | None] = []
    event.listen(bot.core.engine.sync_engine.pool, "invalidate", lambda _c, _r, exc: invalidated.append(exc))
    passes = {"started": 0, "finished": 0}
    sender = TelegramSender(bot.core, bot.app[BOT].bot)
    whole_pass = sender.run_once

    in_unit = asyncio.Event()

    async def slow_pass() -> SendReport:
        passes["started"] += 1
        async with bot.core.uow() as uow:
            await uow.session.execute(text("SELECT 1"))
            in_unit.set()
            await asyncio.sleep(0.05)  # stop() arrives here, in the middle of a unit of work
        report = await whole_pass()
        passes["finished"] += 1
        return report

    sender.run_once = slow_pass  # type: ignore[method-assign]
    task = asyncio.create_task(sender.run(idle_seconds=3600))
    await in_unit.wait()  # past the sender's first heartbeat, in its pass
    started = time.perf_counter()
    await sender.stop(task)
    assert time.perf_counter() - started < 5  # the hour's pause is not waited out
    assert passes == {"started": 1, "finished": 1}
    assert task.done() and not task.cancelled()
    assert bot.core.engine.pool.checkedout() == 0 and invalidated == []  # type: ignore[attr-defined]


async def test_a_pass_still_running_after_the_grace_is_cancelled(bot: Harness) -> None:
    sender = TelegramSender(bot.core, bot.app[BOT].bot)

    stuck = asyncio.Event()

    async def stuck_pass() -> SendReport:
        stuck.set()
        await asyncio.sleep(3600)
        return SendReport()

    sender.run_once = stuck_pass  # type: ignore[method-assign]
    task = asyncio.create_task(sender.run())
    await stuck.wait()  # past the sender's first heartbeat, in its pass
    await sender.stop(task, grace=0.05)
    assert task.cancelled()
