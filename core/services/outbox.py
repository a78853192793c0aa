"""Messages to people, written in the same transaction as the change they tell of.

A message is stored as a template code and parameters in the person's language; the sender
words it at send time. Telegram is used where the household linked a chat that has not blocked
the bot; SMS otherwise, unless the phone sent STOP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.storage.schema import Contact, OutboxMessage, PhonePreference
from core.storage.uow import UnitOfWork, _jsonable

PRIORITY_REPLY = 0
# An operator's emergency broadcast: before every routine notice, never before a reply to someone
# waiting on the line (a reply is one message to one person; the broadcast may be 150,000).
PRIORITY_EMERGENCY = 5
PRIORITY_NOTICE = 10
PRIORITY_BULK = 20


@dataclass(frozen=True)
class Route:
    channel: str  # sms | telegram
    phone: str | None
    telegram_chat_id: int | None
    language: str


async def route_for_household(uow: UnitOfWork, household_id: int) -> Route | None:
    contact = await uow.session.get(Contact, household_id)
    if contact is None:
        return None
    if contact.telegram_chat_id is not None and not contact.telegram_blocked:
        return Route("telegram", contact.phone, contact.telegram_chat_id, contact.language)
    if await sms_stopped(uow, contact.phone):
        return None
    return Route("sms", contact.phone, None, contact.language)


async def sms_stopped(uow: UnitOfWork, phone: str) -> bool:
    stopped = await uow.session.scalar(
        select(PhonePreference.sms_stopped).where(PhonePreference.phone == phone)
    )
    return bool(stopped)


async def enqueue(
    uow: UnitOfWork,
    template: str,
    params: dict[str, Any],
    *,
    household_id: int | None = None,
    route: Route | None = None,
    priority: int = PRIORITY_NOTICE,
    dedupe_key: str | None = None,
) -> OutboxMessage | None:
    """Queue a message to a household (routed by its contact) or along an explicit route.

    Returns None when the person cannot be reached (no contact, or SMS stopped and no Telegram).
    A ``dedupe_key`` makes a repeated notice a no-op.
    """
    if route is None:
        if household_id is None:
            raise ValueError("a message needs a household or a route")
        route = await route_for_household(uow, household_id)
        if route is None:
            return None
    if dedupe_key is not None:
        existing = await uow.session.scalar(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
        )
        if existing is not None:
            return existing
    now = uow.now()
    message = OutboxMessage(
        created_at=now,
        household_id=household_id,
        phone=route.phone,
        telegram_chat_id=route.telegram_chat_id,
        channel=route.channel,
        priority=priority,
        language=route.language,
        template=template,
        params=_jsonable(params),
        state="pending",
        attempts=0,
        next_attempt_at=now,
        dedupe_key=dedupe_key,
    )
    uow.session.add(message)
    return message


async def sent_though_withdrawn(uow: UnitOfWork, message: OutboxMessage) -> None:
    """``message`` was withdrawn while a sender had it in hand, and went out all the same.

    An assessment withdraws an unsent ending notice when it finds the family eligible again, and
    then tells the family nothing, since it was never told. This one was told its assistance
    ends: it is now told it goes on, as the assessment tells a family that had heard already."""
    if message.template != "enrolment.ending" or message.household_id is None:
        return
    await enqueue(uow, "enrolment.continues", {"last_month": message.params.get("last_month")},
                  household_id=message.household_id, dedupe_key=f"enrolment.continues:sent:{message.id}")
