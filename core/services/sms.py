"""SMS: inbound keywords (three languages, both scripts), replies through the outbox, the sender.

An inbound SMS is recorded once (by the gateway's message id) and answered in the same
transaction through the outbox; STOP is honoured before anything else. The dispatcher words each
pending message at send time, composed to cost the fewest segments (``gsm_spelling`` keeps Uzbek
and Karakalpak in GSM 7-bit; Russian is UCS-2) and records its segment count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from sqlalchemy import select

from core import config
from core.errors import DomainError
from core.flows.citizen import application_text, grievance_status_text, payment_text
from core.gsm import sms_segments
from core.i18n import N_, SUPPORTED, _, use_locale
from core.identity import Msisdn
from core.services import applications, grievances, outbox
from core.services.conversations import (
    Who,
    application_data,
    begin_write,
    my_application_data,
    next_payment_data,
    set_phone_preference,
    sqlite_writer,
)
from core.services.dispatch import Claimed, OutboxSender, Outcome, Pace, Retry, Sent
from core.services.messages import error_text, render
from core.storage.schema import Contact, InboundSms, OutboxMessage, PhonePreference
from core.storage.uow import Actor, Core, UnitOfWork
from core.text import clean_text, fold, gsm_spelling, tidy_sentences

log = logging.getLogger(__name__)

MAX_STORED_TEXT: Final = 2000
MAX_ATTEMPTS: Final = 6

def _cyrillic(word: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in word)


# keyword (folded with core.text.fold, and its script) → (command, language it implies or None)
_KEYWORDS: Final[dict[tuple[str, bool], tuple[str, str | None]]] = {}
for _cmd, _lang, _words in (
    ("stop", None, ("STOP", "STOP.", "СТОП", "TOXTAT", "ТЎХТАТ")),
    ("start", None, ("START", "СТАРТ", "BOSHLASH")),
    ("status", "uz", ("HOLAT", "ҲОЛАТ", "ХОЛАТ", "XOLAT")),
    ("status", None, ("STATUS",)),
    ("status", "ru", ("СТАТУС",)),
    ("status", "kaa", ("JAǴDAY", "JAGDAY")),
    ("payment", "uz", ("TOʻLOV", "TOLOV", "ТЎЛОВ", "ТОЛОВ")),
    ("payment", "ru", ("ОПЛАТА", "ВЫПЛАТА")),
    ("payment", "kaa", ("TÓLEM", "TOLEM")),
    ("application", "uz", ("ARIZA", "АРИЗА")),
    ("application", "ru", ("ЗАЯВКА",)),
    ("application", "kaa", ("ARZA",)),
    ("grievance", "uz", ("SHIKOYAT", "ШИКОЯТ", "MUROJAAT")),
    ("grievance", "ru", ("ЖАЛОБА", "ОБРАЩЕНИЕ")),
    ("grievance", "kaa", ("SHAǴIM", "SHAGIM")),
    ("help", None, ("HELP", "?")),
    ("help", "uz", ("YORDAM", "ЁРДАМ")),
    ("help", "ru", ("ПОМОЩЬ", "СПРАВКА")),
    ("help", "kaa", ("JÁRDEM", "JARDEM")),
):
    for _w in _words:
        _KEYWORDS[(fold(_w), _cyrillic(_w))] = (_cmd, _lang)

HELP_TEXT: Final = N_("Send HOLAT for your application, TOLOV for the next payment, ARIZA and a number, "
                      "SHIKOYAT and your text for a grievance, STOP to stop SMS. Hotline: 1140.")
EMPTY_TEXT: Final = N_("The message was empty. Send HELP for the list of commands.")
UNKNOWN_TEXT: Final = N_("We did not understand the message. Send HELP for the list of commands.")
STOPPED_TEXT: Final = N_("You will no longer get SMS from us. Send START to get them again.")
STARTED_TEXT: Final = N_("SMS notices are on again. Send HELP for the list of commands.")
NEED_NUMBER: Final = N_("Send ARIZA and the application number, for example ARIZA 123456789.")
GRIEVANCE_TAKEN: Final = N_("Grievance {number} is registered. The answer is due by {date}.")
# SMS has no menu to apply from (the USSD and Telegram answer sends the family there).
NO_APPLICATION: Final = N_("Your family has no application yet. To apply, dial *1140# or write to our Telegram bot.")


def compose(text: str, language: str) -> tuple[str, int]:
    """The text as sent (GSM-friendly spelling for Latin-script languages) and its segment count."""
    # A date that ends in an abbreviation ("2026 г.") at a sentence's end leaves "г.." behind.
    sent = gsm_spelling(tidy_sentences(text), language)
    return sent, sms_segments(sent)


def parse(text: str) -> tuple[str | None, str | None, str]:
    """(command, implied language, the rest of the message) for an inbound text."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return None, None, ""
    key = fold(words[0])
    found = _KEYWORDS.get((key, _cyrillic(words[0]))) or _KEYWORDS.get((key, not _cyrillic(words[0])))
    command, lang = found or (None, None)
    return command, lang, words[1] if len(words) > 1 else ""


@dataclass(frozen=True)
class InboundReply:
    text: str
    language: str
    outbox_id: int | None
    duplicate: bool = False


async def _language(uow: UnitOfWork, phone: str, implied: str | None) -> str:
    if implied in SUPPORTED:
        return implied
    pref = await uow.session.scalar(select(PhonePreference.language).where(PhonePreference.phone == phone))
    if pref in SUPPORTED:
        return str(pref)
    lang = await uow.session.scalar(select(Contact.language).where(Contact.phone == phone).limit(1))
    return str(lang) if lang in SUPPORTED else "uz"


def _stored_id(gateway_id: str) -> str:
    """A gateway's message id as kept (64 characters): a longer one by its digest, since two ids
    cut to the same first 64 characters would make the second a "repeat" and lose it."""
    if len(gateway_id) <= 64:
        return gateway_id
    return hashlib.sha256(gateway_id.encode()).hexdigest()


async def handle_inbound(core: Core, sender: str, text: str, gateway_id: str | None = None) -> InboundReply:
    """Record one inbound SMS and queue its reply, once per gateway message id."""
    phone = Msisdn.parse(sender).e164
    text = clean_text(text)
    gateway_id = _stored_id(clean_text(gateway_id)) if gateway_id else None
    async with sqlite_writer(core), core.uow() as uow:
        s = uow.session
        await begin_write(uow)
        if gateway_id:
            seen = await s.scalar(select(InboundSms).where(InboundSms.gateway_message_id == gateway_id))
            if seen is not None:
                reply = await s.get(OutboxMessage, seen.reply_outbox_id) if seen.reply_outbox_id else None
                return InboundReply(reply.text or "" if reply else "", reply.language if reply else "uz",
                                    seen.reply_outbox_id, duplicate=True)
        inbound = InboundSms(gateway_message_id=gateway_id or None, phone=phone, text=text[:MAX_STORED_TEXT],
                             received_at=uow.now())
        s.add(inbound)
        await s.flush()
        command, implied, rest = parse(text)
        language = await _language(uow, phone, implied)
        if implied is not None:  # a keyword in a language: what follows (a bare number) is answered in it
            await set_phone_preference(uow, phone, language=implied)
        who = Who(f"sms:{phone}", phone, "sms", language, inbound.id)
        with use_locale(language):
            body = await _answer(uow, who, command, rest, text)
        sent, segments = compose(body, language)
        message = await outbox.enqueue(uow, "sms.reply", {"text": body},
                                       route=outbox.Route("sms", phone, None, language),
                                       priority=outbox.PRIORITY_REPLY, dedupe_key=f"sms.reply:{inbound.id}")
        assert message is not None
        message.text, message.segments = sent, segments
        await s.flush()
        inbound.reply_outbox_id = message.id
        await uow.commit()
        return InboundReply(sent, language, message.id)


async def _answer(uow: UnitOfWork, who: Who, command: str | None, rest: str, raw: str) -> str:
    """The reply's words, in the current locale; domain refusals become their own sentence."""
    assert who.phone is not None
    if not raw.strip():
        return _(EMPTY_TEXT)
    if command == "stop":  # honoured before anything else
        await set_phone_preference(uow, who.phone, sms_stopped=True)
        return _(STOPPED_TEXT)
    if command == "start":
        await set_phone_preference(uow, who.phone, sms_stopped=False)
        return _(STARTED_TEXT)
    try:
        async with uow.session.begin_nested():
            if command == "status":
                data = await my_application_data(uow, who, {})
                return application_text(data) if data.get("application") else _(NO_APPLICATION)
            if command == "payment":
                return payment_text(await next_payment_data(uow, who, {}))
            if command == "application":
                if not rest.strip():
                    return _(NEED_NUMBER)
                view = await applications.find_application(uow, rest, phone=who.phone)
                return application_text(application_data(view))
            if command == "grievance":
                g = await grievances.raise_grievance(uow, grievances.RaiseGrievance(
                    category="other", text=rest, channel="sms", language=who.language, phone=who.phone,
                    idempotency_key=f"sms:{who.hop}"), Actor("citizen", who.phone, "sms"))
                from core.services.messages import _params
                p = _params({"number": g.number, "due_on": g.due_on})
                return _(GRIEVANCE_TAKEN).format(number=p["number"], date=p["due_on"])
            if command == "help":
                return _(HELP_TEXT)
    except DomainError as exc:
        if exc.code in ("phone.not_registered", "application.not_yours"):
            from core.flows.words import ONLY_REGISTERED_PHONE
            return _(ONLY_REGISTERED_PHONE)
        return error_text(exc.code, exc.params)
    # A bare grievance number asks for its state.
    digits = "".join(ch for ch in raw if ch.isdigit())
    if len(digits) == 9 and len(raw.strip()) <= 15:
        try:
            async with uow.session.begin_nested():
                g = await grievances.find_grievance(uow, digits, phone=who.phone)
            return grievance_status_text({"number": g.number, "state": g.state, "due_on": g.due_on.isoformat(),
                                          "answer": g.answer})
        except DomainError as exc:
            return error_text(exc.code, exc.params)
    return _(UNKNOWN_TEXT)


# --- sending --------------------------------------------------------------------------------------


class SmsGateway(Protocol):
    """Port to an SMS gateway: submit one message, get the gateway's message id."""

    async def send(self, phone: str, text: str, reference: str) -> str: ...


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(3600, 5 * 3 ** attempts))


DEFAULT_PACE: Final = Pace(rate=config.DEFAULT_SMS_PER_SECOND, concurrency=config.DEFAULT_SMS_CONCURRENCY)


class SmsSender(OutboxSender):
    """The SMS outbox through ``gateway``, at the account's rate (``Pace``)."""

    channel = "sms"

    def __init__(self, core: Core, gateway: SmsGateway, pace: Pace = DEFAULT_PACE, **clock: Any) -> None:
        super().__init__(core, pace, **clock)
        self.gateway = gateway

    async def prepare(self, uow: UnitOfWork, rows: Sequence[OutboxMessage]) -> list[OutboxMessage]:
        """STOP honoured before anything else (a reply still goes: it may confirm the STOP);
        each message worded at send time and kept as sent."""
        phones = {r.phone for r in rows if r.phone is not None and r.priority > outbox.PRIORITY_REPLY}
        stopped = set((await uow.session.scalars(
            select(PhonePreference.phone).where(PhonePreference.phone.in_(phones), PhonePreference.sms_stopped)
        )).all()) if phones else set()
        jobs = []
        for row in rows:
            if row.phone is None:
                row.state, row.error = "dead", "no phone"
            elif row.priority > outbox.PRIORITY_REPLY and row.phone in stopped:
                row.state, row.error = "dead", "stopped"
            else:
                if row.text is None:
                    row.text, row.segments = compose(render(row.template, self.broadcasts.params(row), row.language), row.language)
                jobs.append(row)
        return jobs

    async def deliver(self, job: Claimed) -> Outcome | None:
        assert job.phone is not None and job.text is not None
        if not await self.go(job):
            return None
        try:
            # The outbox id is the gateway's reference: a gateway that deduplicates on it sends a
            # message claimed again after a crash (see core.services.dispatch) only once.
            return Sent(await self.gateway.send(job.phone, job.text, str(job.id)))
        except Exception as exc:  # the gateway's failure is recorded and retried, never raised
            attempts = job.attempts + 1
            return Retry(str(exc)[:200] or type(exc).__name__, _backoff(attempts), give_up=attempts >= MAX_ATTEMPTS)


async def send_due(core: Core, gateway: SmsGateway, limit: int | None = None, pace: Pace = DEFAULT_PACE) -> int:
    """Send the due SMS in the outbox (replies first, at most ``limit``); returns how many the gateway accepted."""
    return (await SmsSender(core, gateway, pace).run_once(limit)).sent


async def record_receipt(core: Core, provider_message_id: str, status: str, reference: str | None = None) -> bool:
    """A delivery receipt from the gateway: delivered, or failed with its reason.

    ``reference`` is our outbox id as we submitted it: a receipt can overtake the sender's own
    record of the gateway's id, and is then matched by it instead of being lost."""
    async with sqlite_writer(core), core.uow() as uow:
        await begin_write(uow)
        # Locked, as the sender locks it: the two may meet on one row (see send_due).
        row = await uow.session.scalar(
            select(OutboxMessage).where(OutboxMessage.provider_message_id == provider_message_id)
            .with_for_update())
        if row is None and reference and reference.isdigit():
            row = await uow.session.get(OutboxMessage, int(reference), with_for_update=True)
            if row is not None and row.provider_message_id not in (None, provider_message_id):
                row = None
        if row is None:
            return False
        row.provider_message_id = provider_message_id
        row.state = "delivered" if status.lower() in ("delivered", "delivrd", "success") else "failed"
        if row.state == "failed":
            row.error = status[:200]
        await uow.commit()
        return True
