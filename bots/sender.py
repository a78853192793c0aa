"""The Telegram outbox sender: delivers ``outbox`` rows with channel 'telegram'.

Replies (priority 0) go before notices (10) and bulk (20). Token buckets keep to about 30
messages a second overall and 1 a second per chat. A 429 reschedules that message after its
``retry_after`` (other chats go on); a 403 "bot was blocked by the user" marks the contact blocked
and turns the message into an SMS so SMS takes over. Rows are claimed with a short lease, so
several processes can run senders side by side and a crash only delays a message.

``run`` is stopped with ``stop``, which lets the pass in progress finish: a pass cancelled in the
middle of a query, or of aiosqlite's connect, leaves that connection to be closed from aiosqlite's
worker thread, unawaited, and the thread then reports into an event loop that may be gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import select, update
from telegram import Bot, InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from core.i18n import use_locale
from core.services.outbox import sent_though_withdrawn, sms_stopped
from core.storage.engine import is_sqlite
from core.storage.schema import Contact, OutboxMessage
from core.storage.uow import Actor, Core

log = logging.getLogger("spsr.bot.sender")

LEASE = dt.timedelta(seconds=60)
MAX_ATTEMPTS = 8
# How long ``stop`` waits for the pass in progress before cancelling it.
STOP_GRACE_SECONDS = 10.0
SYSTEM = Actor.system("telegram-sender")


class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``."""

    def __init__(self, rate: float, burst: float, now: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._now = now
        self.tokens = burst
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

    def wait_time(self) -> float:
        self._fill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def hold(self, seconds: float) -> None:
        """Empty the bucket for ``seconds`` (Telegram said to wait)."""
        self._fill()
        self.tokens = -seconds * self.rate


@dataclass
class SendReport:
    sent: int = 0
    rescheduled: int = 0
    to_sms: int = 0
    failed: int = 0
    deferred: int = 0


@dataclass
class TelegramSender:
    """Deliver due Telegram outbox rows through ``bot``; ``run_once`` is one pass, ``run`` loops."""

    core: Core
    bot: Bot
    per_second: float = 30.0
    per_chat_per_second: float = 1.0
    batch: int = 200
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    _global: TokenBucket | None = None
    _chats: dict[int, TokenBucket] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._global = TokenBucket(self.per_second, self.per_second, self.monotonic)

    def _chat_bucket(self, chat_id: int) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            bucket = self._chats[chat_id] = TokenBucket(self.per_chat_per_second, 1, self.monotonic)
        return bucket

    async def _claim(self) -> list[OutboxMessage]:
        async with self.core.uow() as uow:
            now = uow.now()
            query = (select(OutboxMessage)
                     .where(OutboxMessage.channel == "telegram", OutboxMessage.state == "pending",
                            OutboxMessage.next_attempt_at <= now)
                     .order_by(OutboxMessage.priority, OutboxMessage.next_attempt_at, OutboxMessage.id)
                     .limit(self.batch))
            if not is_sqlite(self.core.engine):
                query = query.with_for_update(skip_locked=True)
            rows = list((await uow.session.scalars(query)).all())
            for row in rows:
                row.next_attempt_at = now + LEASE
            await uow.commit()
            return rows

    async def run_once(self) -> SendReport:
        """Send what is due now; a chat over its rate waits for the next pass."""
        report = SendReport()
        rows = await self._claim()
        for row in rows:
            assert row.telegram_chat_id is not None
            bucket = self._chat_bucket(row.telegram_chat_id)
            if not bucket.try_take():
                await self._release(row.id, dt.timedelta(seconds=bucket.wait_time()))
                report.deferred += 1
                continue
            assert self._global is not None
            while not self._global.try_take():
                await self.sleep(self._global.wait_time())
            await self._send(row, bucket, report)
        return report

    async def _send(self, row: OutboxMessage, bucket: TokenBucket, report: SendReport) -> None:
        chat_id = row.telegram_chat_id
        assert chat_id is not None
        text = row.text or _word(row)
        try:
            message = await self.bot.send_message(chat_id, text, reply_markup=_markup(self.bot, row))
        except RetryAfter as exc:
            seconds = exc.retry_after if isinstance(exc.retry_after, int | float) else exc.retry_after.total_seconds()
            bucket.hold(float(seconds))
            await self._reschedule(row.id, dt.timedelta(seconds=float(seconds)), f"429 retry after {seconds}")
            report.rescheduled += 1
            return
        except Forbidden as exc:
            await self._to_sms(row.id, chat_id, str(exc))
            report.to_sms += 1
            return
        except BadRequest as exc:
            await self._finish(row.id, "dead", error=str(exc)[:200])
            report.failed += 1
            return
        except (NetworkError, TelegramError) as exc:
            backoff = dt.timedelta(seconds=min(3600, 5 * 2 ** row.attempts))
            await self._reschedule(row.id, backoff, str(exc)[:200], give_up=row.attempts + 1 >= MAX_ATTEMPTS)
            report.rescheduled += 1
            return
        await self._finish(row.id, "sent", provider_id=str(message.message_id))
        report.sent += 1

    async def _release(self, row_id: int, delay: dt.timedelta) -> None:
        async with self.core.uow() as uow:
            await uow.session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                                      .values(next_attempt_at=uow.now() + delay))
            await uow.commit()

    async def _reschedule(self, row_id: int, delay: dt.timedelta, error: str, *, give_up: bool = False) -> None:
        async with self.core.uow() as uow:
            row = await uow.session.get(OutboxMessage, row_id)
            assert row is not None
            row.attempts += 1
            row.error = error
            row.next_attempt_at = uow.now() + delay
            if give_up:
                row.state = "dead"
            await uow.commit()

    async def _finish(self, row_id: int, state: str, *, provider_id: str | None = None,
                      error: str | None = None) -> None:
        async with self.core.uow() as uow:
            row = await uow.session.get(OutboxMessage, row_id)
            assert row is not None
            row.attempts += 1
            if row.state == "withdrawn":  # withdrawn while in hand (its family reinstated)
                if state != "sent":
                    state = "withdrawn"  # not sent: it stays withdrawn
                else:
                    await sent_though_withdrawn(uow, row)
            row.state = state
            row.error = error
            if state == "sent":
                row.sent_at = uow.now()
                row.provider_message_id = provider_id
            await uow.commit()

    async def _to_sms(self, row_id: int, chat_id: int, error: str) -> None:
        """The person blocked the bot: mark every contact on that chat blocked; SMS takes over."""
        async with self.core.uow() as uow:
            s = uow.session
            contacts = (await s.scalars(select(Contact).where(Contact.telegram_chat_id == chat_id))).all()
            for contact in contacts:
                contact.telegram_blocked = True
                contact.updated_at = uow.now()
                uow.audit(SYSTEM, "contact.telegram_blocked", "household", contact.household_id)
            row = await s.get(OutboxMessage, row_id)
            assert row is not None
            row.attempts += 1
            row.error = f"telegram: {error}"[:200]
            phone = row.phone or (contacts[0].phone if contacts else None)
            if row.state == "withdrawn":  # withdrawn meanwhile (its family reinstated): not sent by SMS either
                pass
            elif phone is None or row.template == "telegram.reply" or await sms_stopped(uow, phone):
                row.state = "failed"
            else:
                row.channel = "sms"
                row.phone = phone
                row.telegram_chat_id = None
                row.state = "pending"
                row.next_attempt_at = uow.now()
            await uow.commit()

    async def run(self, idle_seconds: float = 1.0) -> None:
        """Loop until ``stop``; errors are logged and the loop goes on."""
        while not self._stopping.is_set():
            try:
                report = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("telegram sender pass failed")
                report = SendReport()
            if report.sent or report.rescheduled or report.to_sms:
                continue
            self.wake.clear()
            if self._stopping.is_set():
                break
            try:
                await asyncio.wait_for(self.wake.wait(), idle_seconds)
            except TimeoutError:
                pass

    async def stop(self, task: asyncio.Task[None], grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop ``task`` (running ``run``) once the pass in progress is done; only a pass still
        running after ``grace`` seconds is cancelled. Only the pause between passes is cut short."""
        self._stopping.set()
        self.wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            log.warning("telegram sender pass still running after %.0f s; cancelling it", grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _markup(bot: Bot, row: OutboxMessage) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    """The buttons of a held-back reply (``telegram.reply``), as the bot first meant to send them."""
    data = (row.params or {}).get("markup")
    if not isinstance(data, dict):
        return None
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.de_json(data, bot)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.de_json(data, bot)
    if data.get("remove_keyboard"):
        return ReplyKeyboardRemove()
    return None


def _word(row: OutboxMessage) -> str:
    """The message in the person's language, worded by ``core.services.messages``."""
    from core.services import messages

    with use_locale(row.language):
        return messages.render(row.template, row.params or {}, row.language)
