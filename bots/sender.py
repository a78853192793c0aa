"""The Telegram outbox sender: delivers ``outbox`` rows with channel 'telegram'.

Replies (priority 0) go before notices (10) and bulk (20). A bucket keeps to about 30 messages a
second overall (shared by every live sender on the database), with several requests in flight,
and one bucket per chat to 1 a second (a chat over it waits for a later pass, other chats go on);
with several senders, each chat is one sender's (``OutboxSender.partition_key``). A 429 reschedules that message after its
``retry_after``; a 403 "bot was blocked by the user" marks the contact blocked and turns the
message into an SMS so SMS takes over. Claims, leases, batched results and stopping are
``core.services.dispatch``'s, so several processes can run senders side by side and a crash only
delays a message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from telegram import Bot, InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from core import config
from core.i18n import use_locale
from core.pacing import TokenBucket
from core.services.broadcasts import sms_allowed
from core.services.conversations import sqlite_writer
from core.services.dispatch import (
    Claimed,
    Dead,
    OutboxSender,
    Outcome,
    Pace,
    Release,
    Retry,
    SendReport,
    Sent,
)
from core.services.outbox import sms_stopped
from core.storage.schema import Contact, OutboxMessage
from core.storage.uow import Actor, Core

__all__ = ["SendReport", "TelegramSender", "TokenBucket"]

log = logging.getLogger("spsr.bot.sender")

MAX_ATTEMPTS = 8
SYSTEM = Actor.system("telegram-sender")
# Chats whose bucket this process keeps; past it, the full ones (no message for a second) are forgotten.
CHAT_BUCKETS = 10_000


class TelegramSender(OutboxSender):
    """Deliver due Telegram outbox rows through ``bot``; ``run_once`` is one pass, ``run`` loops."""

    channel = "telegram"
    # Telegram's 1 a second is per chat: each chat has one sender among the live ones, whose
    # per-chat bucket then keeps it.
    partition_key = "telegram_chat_id"

    def __init__(self, core: Core, bot: Bot, *, per_second: float = config.DEFAULT_TELEGRAM_PER_SECOND,
                 per_chat_per_second: float = config.DEFAULT_TELEGRAM_PER_CHAT_PER_SECOND,
                 concurrency: int = config.DEFAULT_TELEGRAM_CONCURRENCY,
                 lease: dt.timedelta = dt.timedelta(seconds=config.DEFAULT_OUTBOX_LEASE_SECONDS),
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        # Telegram takes a second's worth at once (burst), as its limit is counted per second.
        super().__init__(core, Pace(rate=per_second, concurrency=concurrency, burst=max(1.0, per_second),
                                    lease=lease), monotonic=monotonic, sleep=sleep)
        self.bot = bot
        self.per_chat_per_second = per_chat_per_second
        self._chats: dict[int, TokenBucket] = {}
        self.report_to_sms = 0

    def _chat_bucket(self, chat_id: int) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if len(self._chats) >= CHAT_BUCKETS:
                self._chats = {k: b for k, b in self._chats.items() if not b.idle()}
            bucket = self._chats[chat_id] = TokenBucket(self.per_chat_per_second, 1, self.monotonic, self.sleep)
        return bucket

    async def deliver(self, job: Claimed) -> Outcome | None:
        chat_id = job.telegram_chat_id
        assert chat_id is not None
        if not self.owns(chat_id):  # claimed before a sender joined, whose chat it is now: it goes from there
            return Release(dt.timedelta(0))
        bucket = self._chat_bucket(chat_id)
        if not bucket.try_take():
            return Release(dt.timedelta(seconds=bucket.wait_time()))
        if not await self.go(job):
            return None
        try:
            message = await self.bot.send_message(chat_id, job.text or _word(job),
                                                  reply_markup=_markup(self.bot, job))
        except RetryAfter as exc:
            seconds = float(exc.retry_after if isinstance(exc.retry_after, int | float)
                            else exc.retry_after.total_seconds())
            bucket.hold(seconds)
            return Retry(f"429 retry after {seconds:g}", dt.timedelta(seconds=seconds))
        except Forbidden as exc:
            await self._to_sms(job.id, chat_id, str(exc))
            self.report_to_sms += 1
            return None
        except BadRequest as exc:
            return Dead(str(exc)[:200])
        except (NetworkError, TelegramError) as exc:
            return Retry(str(exc)[:200], dt.timedelta(seconds=min(3600, 5 * 2 ** job.attempts)),
                         give_up=job.attempts + 1 >= MAX_ATTEMPTS)
        return Sent(str(message.message_id))

    async def run_once(self, limit: int | None = None) -> SendReport:
        self.report_to_sms = 0
        report = await super().run_once(limit)
        report.to_sms = self.report_to_sms
        return report

    async def _to_sms(self, row_id: int, chat_id: int, error: str) -> None:
        """The person blocked the bot: mark every contact on that chat blocked; SMS takes over."""
        async with sqlite_writer(self.core), self.core.uow(write=True) as uow:
            s = uow.session
            contacts = (await s.scalars(select(Contact).where(Contact.telegram_chat_id == chat_id))).all()
            for contact in contacts:
                contact.telegram_blocked = True
                contact.updated_at = uow.now()
                uow.audit(SYSTEM, "contact.telegram_blocked", "household", contact.household_id)
            row = await s.get(OutboxMessage, row_id, with_for_update=True, populate_existing=True)
            assert row is not None
            row.attempts += 1
            row.error = f"telegram: {error}"[:200]
            phone = row.phone or (contacts[0].phone if contacts else None)
            if row.state != "pending":  # withdrawn meanwhile (its family reinstated): not sent by SMS either
                pass
            elif (phone is None or row.template == "telegram.reply" or await sms_stopped(uow, phone)
                  or not await sms_allowed(uow, row)):
                row.state = "failed"
            else:
                row.channel = "sms"
                row.phone = phone
                row.telegram_chat_id = None
                row.state = "pending"
                row.next_attempt_at = uow.now()
            await uow.commit()


def _markup(bot: Bot, row: Claimed) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
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


def _word(row: Claimed) -> str:
    """The message in the person's language, worded by ``core.services.messages``."""
    from core.services import messages

    with use_locale(row.language):
        return messages.render(row.template, row.params or {}, row.language)
