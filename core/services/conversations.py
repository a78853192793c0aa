"""The conversation runner: one hop of a citizen's conversation, on any channel.

``hop`` loads the session (``channel_sessions``), feeds the input to the pure flow engine
(``core.flows.step``), performs each :class:`~core.flows.Request` the flow makes against the
services, stores the new state and returns the screen — all in one unit of work, so any server
process can answer the next hop. A repeated hop (same ``hop_id``) gets the stored reply and does
nothing twice. A channel that pages long screens (USSD) passes a :class:`Pager`; its page controls
("98" more, "0" back a page) are handled here and never reach the flow.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy import text as text_sql
from sqlalchemy.exc import IntegrityError

from core.errors import DomainError, NotFound
from core.flows import Input, Request, Result, Screen, Start, step
from core.flows.words import SESSION_EXPIRED
from core.i18n import SUPPORTED, _, use_locale
from core.identity import Pinfl
from core.services import applications, grievances, payments
from core.services.registry import (
    household_id_for_pinfl,
    household_ids_for_phone,
    household_view,
    phone_owns_household,
)
from core.storage.schema import Application, ChannelSession, Contact, Mahalla, PhonePreference
from core.storage.uow import Actor, Core, UnitOfWork, _jsonable
from core.text import clean_text

log = logging.getLogger(__name__)

MORE = "98"
PAGE_BACK = "0"
MAX_REQUESTS_PER_HOP = 6


class Pager(Protocol):
    """Lays a screen out as one or more fully rendered pages (the channel's own layout)."""

    def pages(self, screen: Screen, language: str) -> list[str]: ...


@dataclass(frozen=True)
class Reply:
    screen: Screen
    language: str
    end: bool
    text: str | None = None  # the page to send, when a pager was given
    repeated: bool = False


@dataclass(frozen=True)
class Who:
    """Who is talking, as the channel knows them; ``phone`` is the identity factor."""

    key: str
    phone: str | None
    channel: str
    language: str
    hop: int


Op = Callable[[UnitOfWork, Who, dict[str, Any]], Awaitable[dict[str, Any]]]


def telegram_chat(who: Who) -> int | None:
    """The Telegram chat behind a ``tg:<chat>`` conversation, so answers go back to that chat."""
    if who.channel == "telegram" and who.key.startswith("tg:"):
        try:
            return int(who.key[3:])
        except ValueError:
            return None
    return None


def _age_seconds(now: dt.datetime, then: dt.datetime) -> float:
    # SQLite hands back naive datetimes in the zone they were written in: compare like with like.
    if then.tzinfo is None:
        now = now.replace(tzinfo=None)
    return (now - then).total_seconds()


async def hop(
    core: Core,
    *,
    key: str,
    phone: str | None,
    channel: str,
    text: str,
    hop_id: str | None = None,
    pager: Pager | None = None,
    ttl_seconds: float | None = None,
    joined_by: str | None = None,
    language: str | None = None,
) -> Reply:
    """Answer one hop; a new ``key`` starts a conversation (its ``text`` is then ignored), in the
    phone's remembered language, else in ``language`` (a chat's own choice), else at the language menu.

    ``joined_by`` says the channel's ``hop_id`` is every input of the session joined by it (Africa's
    Talking's ``text``): the new input is then what follows the previous hop's, separators included.
    """
    text = clean_text(text)
    hop_id = clean_text(hop_id) if hop_id is not None else None
    for attempt in range(2):
        try:
            async with sqlite_writer(core):
                return await _hop(core, key, phone, channel, text, hop_id, pager, ttl_seconds, joined_by,
                                  language)
        except IntegrityError:
            # Two first hops of one session raced to create it: the second reads the first's.
            if attempt:
                raise
    raise AssertionError("unreachable")


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def sqlite_writer(core: Core) -> AsyncIterator[None]:
    """On SQLite, one writing use case at a time in this process, queued in order on the event loop.

    SQLite has one writer; left to ``busy_timeout``, 50 waiting hops poll for the lock with growing
    sleeps and the unlucky ones miss the gateway's deadline. An asyncio lock hands it over in turn
    the moment it is free (``BEGIN IMMEDIATE`` still guards against other processes).
    """
    if core.engine.dialect.name != "sqlite":
        yield
        return
    lock = _SQLITE_WRITERS.setdefault(core.engine.sync_engine, asyncio.Lock())
    async with lock:
        yield


async def begin_write(uow: UnitOfWork) -> None:
    """Take SQLite's write lock now, when a use case reads and then writes (every hop does).

    SQLite's default deferred transaction reads from a snapshot and asks for the write lock only at
    the first write; if another hop committed in between, that upgrade fails at once with
    "database is locked" (SQLITE_BUSY_SNAPSHOT), which busy_timeout cannot wait out. ``BEGIN
    IMMEDIATE`` queues hops at their start instead (busy_timeout waits), and the hop stays short.
    PostgreSQL needs nothing: its row lock (``with_for_update``) serialises one session's hops.
    """
    if uow.session.get_bind().dialect.name == "sqlite":
        await uow.session.execute(text_sql("BEGIN IMMEDIATE"))


async def _hop(core: Core, key: str, phone: str | None, channel: str, text: str, hop_id: str | None,
               pager: Pager | None, ttl: float | None, joined_by: str | None = None,
               start_language: str | None = None) -> Reply:
    async with core.uow() as uow:
        s = uow.session
        await begin_write(uow)
        now = uow.now()
        row = await s.get(ChannelSession, key, with_for_update=True)
        # A session belongs to the phone that opened it: a gateway that hands a session id on to
        # another caller starts that caller afresh, never in (nor shown) the first one's session.
        fresh = row is None or (row.phone is not None and row.phone != phone)
        if not fresh and row is not None and hop_id is not None and row.last_input == hop_id and row.last_reply:
            return _stored(row.last_reply)
        if not fresh and row is not None and ttl is not None and _age_seconds(now, row.updated_at) > ttl:
            lang = row.language or "uz"
            with use_locale(lang):
                screen = Screen(_("Session"), _(SESSION_EXPIRED), end=True, back=False, home=False)
                expired = pager.pages(screen, lang)[0] if pager else None
            row.ended = True
            row.updated_at = now
            await uow.commit()
            return Reply(screen, lang, True, expired)

        if row is None or fresh:
            language = await _preferred_language(uow, phone)
            if language is None and start_language in SUPPORTED:
                language = start_language
            result = step({}, Start(language))
            if row is None:
                row = ChannelSession(key=key)
                s.add(row)
            row.phone, row.language, row.state, row.hops = phone, language, {}, 0
            row.created_at, row.updated_at, row.ended = now, now, False
        else:
            text = _new_input(text, hop_id, row.last_input, joined_by)
            saved: dict[str, Any] = dict(row.state or {})
            paged = _page_move(saved, text, pager)
            if paged is not None:
                page, pages = paged
                saved["page"] = page
                row.state = saved
                lang = str(saved.get("flow", {}).get("lang") or "uz")
                screen = Screen.from_dict(saved["screen"])
                reply = Reply(screen, lang, screen.end and page == len(pages) - 1, pages[page])
                _remember(row, hop_id, reply, now)
                await uow.commit()
                return reply
            result = step(saved.get("flow", {}), Input(text))

        who = Who(key, phone, channel, str(result.state.get("lang") or "uz"), row.hops + 1)
        for _attempt in range(MAX_REQUESTS_PER_HOP):
            if result.request is None:
                break
            answer = await _fulfil(uow, who, result.request)
            result = step(result.state, answer)
            who = Who(key, phone, channel, str(result.state.get("lang") or "uz"), who.hop)
        assert result.screen is not None, "a flow kept asking without showing a screen"
        lang = str(result.state.get("lang") or "uz")
        screen = result.screen
        state: dict[str, Any] = {"flow": result.state, "screen": screen.to_dict(), "page": 0}
        page_text = None
        end = screen.end
        if pager is not None:
            with use_locale(lang):
                pages = pager.pages(screen, lang)
            state["pages"] = pages  # so "98" and "0" between pages need no layout
            page_text = pages[0]
            end = screen.end and len(pages) == 1
        row.state = state
        row.language = lang
        row.ended = end
        reply = Reply(screen, lang, end, page_text)
        _remember(row, hop_id, reply, now)
        await uow.commit()
        return reply


def _new_input(text: str, hop_id: str | None, previous: str | None, joined_by: str | None) -> str:
    """The input of this hop when ``hop_id`` joins all the session's inputs: a "*" the person typed
    (in a grievance, say) is no separator, so the text after the last "*" alone would lose words."""
    if joined_by is None or hop_id is None or previous is None:
        return text
    if previous == "":
        return hop_id  # the first input after the dial
    if hop_id.startswith(previous + joined_by):
        return hop_id[len(previous) + len(joined_by):]
    return text  # the gateway skipped or replayed a hop: its own split is all there is


def _page_move(saved: dict[str, Any], text: str, pager: Pager | None) -> tuple[int, list[str]] | None:
    """The page to show when ``text`` is a page control of a multi-page screen, else None."""
    if pager is None or "screen" not in saved:
        return None
    pages = saved.get("pages")
    if not isinstance(pages, list) or not pages:  # a session stored before pages were kept
        lang = str(saved.get("flow", {}).get("lang") or "uz")
        with use_locale(lang):
            pages = pager.pages(Screen.from_dict(saved["screen"]), lang)
    page = int(saved.get("page", 0))
    typed = text.strip()
    if len(pages) < 2:
        # "98 More" on a screen that has no more: show it again rather than refuse the input.
        return (0, pages) if typed == MORE and not saved.get("flow", {}).get("ended") else None
    if typed == MORE and page < len(pages) - 1:
        return page + 1, pages
    if typed == PAGE_BACK and page > 0:
        return page - 1, pages
    if typed == MORE:
        return page, pages
    return None


def _remember(row: ChannelSession, hop_id: str | None, reply: Reply, now: dt.datetime) -> None:
    row.last_input = hop_id
    row.last_reply = json.dumps({"screen": reply.screen.to_dict(), "language": reply.language,
                                 "end": reply.end, "text": reply.text}, ensure_ascii=False)
    row.hops += 1
    row.updated_at = now


def _stored(raw: str) -> Reply:
    data = json.loads(raw)
    return Reply(Screen.from_dict(data["screen"]), data["language"], bool(data["end"]), data.get("text"),
                 repeated=True)


async def _preferred_language(uow: UnitOfWork, phone: str | None) -> str | None:
    """The phone's own choice; failing that, the language the registry holds for its family (the
    person can still change it in the main menu); None for a phone the registry does not know."""
    if phone is None:
        return None
    lang = await uow.session.scalar(select(PhonePreference.language).where(PhonePreference.phone == phone))
    if lang in SUPPORTED:
        return str(lang)
    lang = await uow.session.scalar(select(Contact.language).where(Contact.phone == phone)
                                    .order_by(Contact.household_id).limit(1))
    return str(lang) if lang in SUPPORTED else None


async def _fulfil(uow: UnitOfWork, who: Who, request: Request) -> Result:
    op = OPS.get(request.op)
    if op is None:
        raise ValueError(f"unknown request op {request.op!r}")
    try:
        async with uow.session.begin_nested():
            data = await op(uow, who, dict(request.args))
    except DomainError as exc:
        return Result(request.op, error=exc.code, params=_jsonable(exc.params))
    return Result(request.op, data=_jsonable(data))


# --- ops ------------------------------------------------------------------------------------------


def _actor(who: Who) -> Actor:
    return Actor("citizen", who.phone or who.key, who.channel)


def _idempotency(who: Who, op: str) -> str:
    return f"{who.key}:{who.hop}:{op}"[:80]


async def set_phone_preference(
    uow: UnitOfWork, phone: str, *, language: str | None = None, sms_stopped: bool | None = None
) -> None:
    """Remember what a phone chose (its language, STOP for SMS), registered or not."""
    pref = await uow.session.get(PhonePreference, phone)
    if pref is None:
        pref = PhonePreference(phone=phone, language=None, sms_stopped=False)
        uow.session.add(pref)
    if language is not None:
        pref.language = language
    if sms_stopped is not None:
        pref.sms_stopped = sms_stopped
    pref.updated_at = uow.now()


async def _set_language(uow: UnitOfWork, who: Who, args: dict[str, Any]) -> dict[str, Any]:
    language = str(args["language"])
    if who.phone is not None and language in SUPPORTED:
        await set_phone_preference(uow, who.phone, language=language)
    return {"language": language}


def mask_name(given: str, surname: str) -> str:
    """``Anvar K*****v``: enough for a family to recognise itself, not enough to read out."""
    s = surname.strip()
    masked = s if len(s) <= 2 else s[0] + "*" * (len(s) - 2) + s[-1]
    return f"{given.strip()} {masked}".strip()


async def _household_by_pinfl(uow: UnitOfWork, who: Who, args: dict[str, Any]) -> dict[str, Any]:
    s = uow.session
    pinfl = Pinfl.parse(str(args["pinfl"]), today=uow.today())
    hid = await household_id_for_pinfl(s, pinfl)
    if who.phone is None or not await phone_owns_household(s, who.phone, hid):
        return {"own": False}
    view = await household_view(s, hid)
    head = view.head or view.members[0]
    mahalla = await s.get(Mahalla, view.mahalla_id)
    names = {"uz": "", "kaa": "", "ru": ""}
    if mahalla is not None:
        names = {"uz": mahalla.name_uz, "kaa": mahalla.name_kaa or mahalla.name_uz,
                 "ru": mahalla.name_ru or mahalla.name_uz}
    return {"own": True, "head": mask_name(head.given_name, head.surname), "members": len(view.members),
            "mahalla": names}


async def _submit_application(uow: UnitOfWork, who: Who, args: dict[str, Any]) -> dict[str, Any]:
    view = await applications.submit_application(uow, applications.SubmitApplication(
        pinfl=str(args["pinfl"]), channel=who.channel, language=who.language,
        declared_changes=tuple(str(c) for c in args.get("changes") or [args.get("change") or "nothing"]),
        idempotency_key=_idempotency(who, "apply"), phone=who.phone or ""), _actor(who))
    return {"number": view.number, "notice_by": view.notice_by}


async def own_household(uow: UnitOfWork, who: Who) -> int:
    """The family a conversation speaks for: on Telegram the one linked to the chat (a phone can be
    registered for several families, and the person picked one); else the phone's, lowest id first."""
    chat = telegram_chat(who)
    if chat is not None and who.phone:
        linked = await uow.session.scalar(select(Contact.household_id).where(
            Contact.telegram_chat_id == chat, Contact.phone == who.phone))
        if linked is not None:
            return int(linked)
    ids = sorted(await household_ids_for_phone(uow.session, who.phone)) if who.phone else []
    if not ids:
        raise NotFound("phone.not_registered")
    return ids[0]


MAX_LISTED_APPLICATIONS = 5


async def _my_application(uow: UnitOfWork, who: Who, args: dict[str, Any]) -> dict[str, Any]:
    """The family's latest application and, newest first, the last few (a family applies monthly)."""
    hid = await own_household(uow, who)
    numbers = (await uow.session.scalars(
        select(Application.number).where(Application.household_id == hid)
        .order_by(Application.submitted_at.desc(), Application.id.desc()).limit(MAX_LISTED_APPLICATIONS))).all()
    listed = [application_data(await applications.find_application(uow, n))["application"] for n in numbers]
    return {"application": listed[0] if listed else None, "applications": listed}


def application_data(view: applications.ApplicationView | None) -> dict[str, Any]:
    """An application as the flows read it (the ``my_application`` op's result)."""
    if view is None:
        return {"application": None}
    decision = None
    if view.decision is not None:
        d = view.decision
        decision = {"eligible": d.eligible, "amount": d.monthly_amount, "months": d.duration_months,
                    "income_per_member": d.income_per_member, "mce": d.mce,
                    "reasons": [r.to_dict() for r in d.reasons]}
    data: dict[str, Any] = _jsonable({"application": {
        "number": view.number, "state": view.state, "notice_by": view.notice_by,
        "first_month": view.first_month, "decision": decision}})
    return data


async def _next_payment(uow: UnitOfWork, who: Who, args: dict[str, Any]) -> dict[str, Any]:
    hid = await own_household(uow, who)
    pay = await payments.next_payment(uow, hid)
    if pay is None:
        return {"payment": None}
    data: dict[str, Any] = _jsonable({"payment": {
        "month": pay.month, "amount": pay.amount, "window_start": pay.window_start,
        "window_end": pay.window_end, "status": pay.status}})
    return data


async def _raise_grievance(uow: UnitOfWork, who: Who, args: dict[str, Any]) -> dict[str, Any]:
    view = await grievances.raise_grievance(uow, grievances.RaiseGrievance(
        category=str(args["category"]), text=str(args["text"]), channel=who.channel, language=who.language,
        phone=who.phone, telegram_chat_id=telegram_chat(who),
        idempotency_key=_idempotency(who, "grievance")), _actor(who))
    return {"number": view.number, "due_on": view.due_on}


async def _find_grievance(uow: UnitOfWork, who: Who, args: dict[str, Any]) -> dict[str, Any]:
    view = await grievances.find_grievance(uow, str(args["number"]), phone=who.phone or "",
                                           telegram_chat_id=telegram_chat(who))
    return {"number": view.number, "state": view.state, "due_on": view.due_on, "answer": view.answer}


next_payment_data = _next_payment
my_application_data = _my_application

OPS: dict[str, Op] = {
    "set_language": _set_language,
    "household_by_pinfl": _household_by_pinfl,
    "submit_application": _submit_application,
    "my_application": _my_application,
    "next_payment": _next_payment,
    "raise_grievance": _raise_grievance,
    "find_grievance": _find_grievance,
}
