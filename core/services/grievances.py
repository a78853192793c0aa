"""Grievance use cases under the Law on appeals: intake, assignment, answer, escalation,
extension, closing, reopening, appeal. Every change is audited; the citizen hears of an answer,
an extension and a reopening through the outbox, on their own channel and in their language."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import grievances as rules
from core.errors import Conflict, ExpectedVersion, Forbidden, InvalidInput, NotFound, check_version
from core.identity import Msisdn
from core.services import outbox
from core.storage.schema import Contact, Grievance, GrievanceNote, Household
from core.storage.uow import Actor, UnitOfWork
from core.text import clean_text

MAX_TEXT = 2000

GRIEVANCE_SERVICE_ERROR_CODES = (
    "grievance.empty_text",
    "grievance.text_too_long",
    "grievance.unknown_category",
    "grievance.unknown_channel",
    "grievance.anonymous",
    "grievance.not_found",
    "grievance.not_yours",
    "grievance.stale",
    "grievance.empty_answer",
    "grievance.no_extension_reason",
    "grievance.appeal_of_unanswered",
)


@dataclass(frozen=True)
class RaiseGrievance:
    """A citizen's appeal: anonymous appeals are not considered, so a phone or household is required."""

    category: str
    text: str
    channel: str
    language: str
    phone: str | None = None
    household_id: int | None = None
    telegram_chat_id: int | None = None
    needs_check: bool = False
    appeal_of: str | None = None  # the tracking number of the grievance appealed against
    idempotency_key: str | None = None


@dataclass(frozen=True)
class GrievanceView:
    id: int
    number: str
    category: str
    channel: str
    language: str
    state: str
    text: str
    received_on: dt.date
    due_on: dt.date
    overdue: bool
    extended: bool
    escalation_level: int
    assigned_to: str | None
    answer: str | None
    answered_on: dt.date | None
    household_id: int | None
    region_soato: str | None
    appeal_of: str | None
    version: int

    @property
    def grouped_number(self) -> str:
        return rules.TrackingNumber(self.number).grouped


async def _view(uow: UnitOfWork, g: Grievance) -> GrievanceView:
    appeal_of = None
    if g.appeal_of_id is not None:
        appeal_of = await uow.session.scalar(select(Grievance.number).where(Grievance.id == g.appeal_of_id))
    return GrievanceView(
        id=g.id, number=g.number, category=g.category, channel=g.channel, language=g.language,
        state=g.state, text=g.text, received_on=g.received_on, due_on=g.due_on,
        overdue=g.state not in (rules.ANSWERED, rules.CLOSED) and rules.is_overdue(g.due_on, uow.today()),
        extended=g.extended, escalation_level=g.escalation_level, assigned_to=g.assigned_to,
        answer=g.answer, answered_on=g.answered_on, household_id=g.household_id,
        region_soato=g.region_soato, appeal_of=appeal_of, version=g.version,
    )


async def raise_grievance(uow: UnitOfWork, cmd: RaiseGrievance, actor: Actor) -> GrievanceView:
    """Register a grievance the same day, with its tracking number and legal due date."""
    s = uow.session
    if cmd.idempotency_key:
        existing = await s.scalar(select(Grievance).where(Grievance.idempotency_key == cmd.idempotency_key))
        if existing is not None:
            return await _view(uow, existing)
    text = " ".join(clean_text(cmd.text).split())
    if not text:
        raise InvalidInput("grievance.empty_text")
    if len(text) > MAX_TEXT:
        raise InvalidInput("grievance.text_too_long", limit=MAX_TEXT, length=len(text))
    if cmd.category not in rules.CATEGORIES:
        raise InvalidInput("grievance.unknown_category", category=cmd.category)
    if cmd.channel not in rules.CHANNELS:
        raise InvalidInput("grievance.unknown_channel", channel=cmd.channel)
    phone = Msisdn.parse(cmd.phone).e164 if cmd.phone else None
    household_id = cmd.household_id
    if household_id is None and phone is not None:
        household_id = await s.scalar(select(Contact.household_id).where(Contact.phone == phone).limit(1))
    if phone is None and household_id is None and cmd.telegram_chat_id is None:
        raise InvalidInput("grievance.anonymous")
    region = None
    if household_id is not None:
        household = await s.get(Household, household_id)
        if household is None:
            raise NotFound("household.not_found", household_id=household_id)
        region = household.region_soato
    today = uow.today()
    appeal_of_id = None
    if cmd.appeal_of:
        original = await _get(uow, cmd.appeal_of)
        if original.answered_on is None:
            raise Conflict("grievance.appeal_of_unanswered", number=original.number)
        rules.require_appeal_allowed(original.answered_on, today, uow.book)
        appeal_of_id = original.id
    now = uow.now()
    g = Grievance(
        number=await _new_number(uow), household_id=household_id, phone=phone,
        telegram_chat_id=cmd.telegram_chat_id, region_soato=region, category=cmd.category,
        channel=cmd.channel, language=cmd.language, text=text, state=rules.RECEIVED,
        received_on=today, due_on=rules.due_date(today, cmd.needs_check, uow.book),
        needs_check=cmd.needs_check, extended=False, escalation_level=0,
        appeal_of_id=appeal_of_id, idempotency_key=cmd.idempotency_key,
        created_at=now, updated_at=now, version=1,
    )
    s.add(g)
    try:
        await s.flush()
    except IntegrityError:
        raise Conflict("grievance.duplicate") from None
    uow.audit(actor, "grievance.received", "grievance", g.number, category=g.category,
              appeal_of=cmd.appeal_of)
    return await _view(uow, g)


async def _new_number(uow: UnitOfWork) -> str:
    while True:
        number = rules.new_tracking_number(uow.rng).digits
        if not await uow.session.scalar(select(Grievance.id).where(Grievance.number == number)):
            return number


async def _get(uow: UnitOfWork, number: str, *, for_update: bool = False) -> Grievance:
    digits = rules.parse_tracking_number(number).digits
    stmt = select(Grievance).where(Grievance.number == digits)
    if for_update:
        stmt = stmt.with_for_update()
    g = await uow.session.scalar(stmt)
    if g is None:
        raise NotFound("grievance.not_found", number=digits)
    return g


async def find_grievance(
    uow: UnitOfWork, number: str, *, phone: str | None = None, telegram_chat_id: int | None = None
) -> GrievanceView:
    """A grievance by its number; a citizen sees only their own (by phone or Telegram chat)."""
    g = await _get(uow, number)
    if phone is not None or telegram_chat_id is not None:
        own = (phone is not None and g.phone == phone) or (
            telegram_chat_id is not None and g.telegram_chat_id == telegram_chat_id)
        if not own and phone is not None and g.household_id is not None:
            own = await uow.session.scalar(
                select(Contact.phone).where(Contact.household_id == g.household_id)) == phone
        if not own:
            raise Forbidden("grievance.not_yours")
    return await _view(uow, g)


def _check_version(g: Grievance, expected_version: ExpectedVersion) -> None:
    check_version("grievance.stale", g.version, expected_version)


def _touch(uow: UnitOfWork, g: Grievance) -> None:
    g.updated_at = uow.now()
    g.version += 1


async def assign(uow: UnitOfWork, number: str, staff: str, actor: Actor,
                 expected_version: ExpectedVersion = None) -> GrievanceView:
    g = await _get(uow, number, for_update=True)
    _check_version(g, expected_version)
    if g.state == rules.RECEIVED:
        g.state = rules.transition(g.state, rules.ASSIGNED)
    elif g.state not in (rules.ASSIGNED, rules.IN_PROGRESS):
        rules.transition(g.state, rules.ASSIGNED)  # raises the refusal
    g.assigned_to = staff
    _touch(uow, g)
    uow.audit(actor, "grievance.assigned", "grievance", g.number, to=staff)
    return await _view(uow, g)


async def start(uow: UnitOfWork, number: str, actor: Actor, expected_version: ExpectedVersion = None) -> GrievanceView:
    g = await _get(uow, number, for_update=True)
    _check_version(g, expected_version)
    g.state = rules.transition(g.state, rules.IN_PROGRESS)
    _touch(uow, g)
    uow.audit(actor, "grievance.in_progress", "grievance", g.number)
    return await _view(uow, g)


async def answer(uow: UnitOfWork, number: str, text: str, actor: Actor,
                 expected_version: ExpectedVersion = None) -> GrievanceView:
    """Answer the citizen: the reply reaches them on their own channel, in their language."""
    g = await _get(uow, number, for_update=True)
    _check_version(g, expected_version)
    text = clean_text(text).strip()
    if not text:
        raise InvalidInput("grievance.empty_answer")
    # Answering straight away walks the states in between, so the history stays lawful.
    if g.state == rules.RECEIVED:
        g.state = rules.transition(g.state, rules.ASSIGNED)
        g.assigned_to = g.assigned_to or actor.id
    if g.state == rules.ASSIGNED:
        g.state = rules.transition(g.state, rules.IN_PROGRESS)
    g.state = rules.transition(g.state, rules.ANSWERED)
    g.answer = text
    g.answered_on = uow.today()
    _touch(uow, g)
    uow.session.add(GrievanceNote(grievance_id=g.id, at=uow.now(), author=actor.id, kind="reply", text=text))
    uow.audit(actor, "grievance.answered", "grievance", g.number)
    await _notify(uow, g, "grievance.answered", {"number": g.number, "answer": text})
    return await _view(uow, g)


async def close(uow: UnitOfWork, number: str, actor: Actor, expected_version: ExpectedVersion = None) -> GrievanceView:
    g = await _get(uow, number, for_update=True)
    _check_version(g, expected_version)
    g.state = rules.transition(g.state, rules.CLOSED)
    g.closed_on = uow.today()
    _touch(uow, g)
    uow.audit(actor, "grievance.closed", "grievance", g.number)
    return await _view(uow, g)


async def reopen(uow: UnitOfWork, number: str, actor: Actor, reason: str = "",
                 expected_version: ExpectedVersion = None) -> GrievanceView:
    g = await _get(uow, number, for_update=True)
    _check_version(g, expected_version)
    g.state = rules.reopen(g.state)
    g.closed_on = None
    _touch(uow, g)
    uow.audit(actor, "grievance.reopened", "grievance", g.number, reason=reason)
    await _notify(uow, g, "grievance.reopened", {"number": g.number})
    return await _view(uow, g)


async def escalate(uow: UnitOfWork, number: str, actor: Actor, reason: str = "",
                   expected_version: ExpectedVersion = None) -> GrievanceView:
    g = await _get(uow, number, for_update=True)
    _check_version(g, expected_version)
    g.state = rules.escalate(g.state)
    g.escalation_level += 1
    _touch(uow, g)
    uow.audit(actor, "grievance.escalated", "grievance", g.number, level=g.escalation_level, reason=reason)
    return await _view(uow, g)


async def extend(uow: UnitOfWork, number: str, by_days: int, reason: str, actor: Actor,
                 expected_version: ExpectedVersion = None) -> GrievanceView:
    """Extend the deadline once, by at most a month, telling the citizen why."""
    g = await _get(uow, number, for_update=True)
    _check_version(g, expected_version)
    if not reason.strip():
        raise InvalidInput("grievance.no_extension_reason")
    if g.state in (rules.ANSWERED, rules.CLOSED):
        raise Conflict("grievance.transition", current=g.state, target="extended")
    g.due_on = rules.extend(g.due_on, by_days, g.extended, uow.book)
    g.extended = True
    g.extension_reason = reason.strip()
    _touch(uow, g)
    uow.session.add(GrievanceNote(grievance_id=g.id, at=uow.now(), author=actor.id, kind="extension",
                                  text=reason.strip()))
    uow.audit(actor, "grievance.extended", "grievance", g.number, due_on=g.due_on, reason=reason)
    await _notify(uow, g, "grievance.extended", {"number": g.number, "due_on": g.due_on})
    return await _view(uow, g)


async def add_note(uow: UnitOfWork, number: str, text: str, actor: Actor) -> None:
    g = await _get(uow, number)
    uow.session.add(GrievanceNote(grievance_id=g.id, at=uow.now(), author=actor.id, kind="note", text=text))
    uow.audit(actor, "grievance.noted", "grievance", g.number)


async def _notify(uow: UnitOfWork, g: Grievance, template: str, params: dict[str, object]) -> None:
    """Tell the citizen on the channel they used, in the language they wrote in."""
    key = f"{template}:{g.number}:{g.version}"
    if g.telegram_chat_id is not None:
        route = outbox.Route("telegram", g.phone, g.telegram_chat_id, g.language)
    elif g.phone is not None:
        if await outbox.sms_stopped(uow, g.phone):
            return
        route = outbox.Route("sms", g.phone, None, g.language)
    elif g.household_id is not None:
        await outbox.enqueue(uow, template, dict(params), household_id=g.household_id, dedupe_key=key)
        return
    else:
        return
    await outbox.enqueue(uow, template, dict(params), household_id=g.household_id, route=route,
                         priority=outbox.PRIORITY_REPLY, dedupe_key=key)
