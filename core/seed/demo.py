"""Citizens to try the channels with, found again in the data by fixed criteria (no list is kept).

For each language (uz, kaa, ru) and each situation, the household with the smallest id that is in
that situation, and its head:

- ``enrolled``: an active enrolment with a line in this month's payroll not yet paid (the "next
  payment" has an answer), and no open grievance;
- ``rejected``: the latest application rejected, with the decision's reasons;
- ``waiting``: an application of this month still submitted or being verified;
- ``grievance``: a grievance that is not closed;
- ``can_apply``: no application and no enrolment, and :func:`core.eligibility.assess` on today's
  registry data says the family would qualify.

The seed makes its first households to order, so a freshly seeded registry has every pair.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.eligibility import assess
from core.i18n import N_
from core.seed.generator import LANGUAGES, SITUATIONS
from core.services.payments import household_line_exists, household_lines
from core.services.registry import household_facts
from core.storage.schema import (
    Application,
    Contact,
    Decision,
    Enrolment,
    Grievance,
    Household,
    PaymentCycle,
    PayrollLine,
    Person,
)
from core.storage.uow import Core

OPEN_LINE_STATES = ("scheduled", "sent")
WAITING_STATES = ("submitted", "verifying")
CAN_APPLY_CANDIDATES = 50

Params = dict[str, str | int]

#: What each situation's citizen is in, as a sentence: an English msgid with named placeholders. The
#: JSON's ``details`` is the English; ``spsr demo`` says it in the operator's language.
DETAILS: Final[Mapping[str, str]] = {
    "enrolled": N_("enrolled in {programme}: {amount} so'm for {month}, paid between {start} and {end} ({status})"),
    "rejected": N_("application {number} rejected on {decided_on}: {reasons}"),
    "waiting": N_("application {number} {state} since {since}, decided in {month}"),
    "grievance": N_("grievance {number} ({category}) {state}, received {received}, due {due}"),
    "can_apply": N_("has not applied; would qualify today ({category}, {amount} so'm a month)"),
}


@dataclass(frozen=True)
class Details:
    """A citizen's situation in words: one of :data:`DETAILS` and its values (a whole number is an
    amount, to be written as each language groups thousands; the rest are text)."""

    msgid: str
    params: Params

    def english(self) -> str:
        return self.msgid.format(**{k: f"{v:,}" if isinstance(v, int) else v for k, v in self.params.items()})


@dataclass(frozen=True)
class DemoCitizen:
    name: str
    pinfl: str
    phone: str
    language: str
    situation: str
    household_id: int
    said: Details
    application_number: str | None = None
    grievance_number: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def details(self) -> str:
        """The situation in English (the JSON's ``details``)."""
        return self.said.english()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "pinfl": self.pinfl, "phone": self.phone, "language": self.language,
            "situation": self.situation, "household_id": self.household_id, "details": self.details,
        }
        if self.application_number:
            out["application_number"] = self.application_number
        if self.grievance_number:
            out["grievance_number"] = self.grievance_number
        out.update(self.extra)
        return out


def _language(language: str) -> Any:
    return exists().where(Contact.household_id == Household.id, Contact.language == language)


async def _first(s: AsyncSession, *criteria: Any) -> int | None:
    hid: int | None = await s.scalar(select(Household.id).where(*criteria).order_by(Household.id).limit(1))
    return hid


async def _citizen(s: AsyncSession, household_id: int, situation: str, params: Params, **kw: Any) -> DemoCitizen:
    head = await s.scalar(select(Person).join(Household, Household.head_person_id == Person.id)
                          .where(Household.id == household_id))
    if head is None:
        head = await s.scalar(select(Person).where(Person.household_id == household_id).order_by(Person.id).limit(1))
    contact = await s.get(Contact, household_id)
    assert head is not None and contact is not None
    name = " ".join(p for p in (head.surname, head.given_name, head.patronymic) if p)
    return DemoCitizen(name, head.pinfl, contact.phone, contact.language, situation, household_id,
                       Details(DETAILS[situation], params), **kw)


async def _enrolled(s: AsyncSession, language: str, month: dt.date) -> DemoCitizen | None:
    open_grievance = exists().where(Grievance.household_id == Household.id, Grievance.state != "closed")
    line_q = household_line_exists(Household.id, month, PayrollLine.status.in_(OPEN_LINE_STATES))
    hid = await _first(s, _language(language), line_q, ~open_grievance)
    if hid is None:
        return None
    line = await s.scalar(select(PayrollLine).where(await household_lines(s, hid), PayrollLine.cycle_month == month)
                          .order_by(PayrollLine.id).limit(1))
    assert line is not None
    cycle = await s.get(PaymentCycle, month)
    app = await s.scalar(select(Application).join(Enrolment, Enrolment.decision_id == Application.decision_id)
                         .where(Enrolment.id == line.enrolment_id))
    payment = {"month": month.isoformat(), "amount": line.amount, "programme": line.programme,
               "window_start": line.window_start.isoformat(), "window_end": line.window_end.isoformat(),
               "status": line.status, "cycle_state": cycle.state if cycle else None}
    details: Params = {"programme": line.programme, "amount": line.amount, "month": f"{month:%Y-%m}",
                       "start": str(line.window_start), "end": str(line.window_end), "status": line.status}
    return await _citizen(s, hid, "enrolled", details, application_number=app.number if app else None,
                          extra={"next_payment": payment})


async def _rejected(s: AsyncSession, language: str) -> DemoCitizen | None:
    later = exists().where(Application.household_id == Household.id, Application.state != "rejected")
    rejected = exists().where(Application.household_id == Household.id, Application.state == "rejected")
    hid = await _first(s, _language(language), rejected, ~later)
    if hid is None:
        return None
    app, decision = (await s.execute(
        select(Application, Decision).join(Decision, Decision.id == Application.decision_id)
        .where(Application.household_id == hid, Application.state == "rejected")
        .order_by(Application.submitted_at.desc()).limit(1)
    )).one()
    reasons = [r["code"] for r in decision.reasons if r["code"].startswith(("exclusion.", "income."))]
    details: Params = {"number": app.number, "decided_on": str(decision.decided_on), "reasons": ", ".join(reasons)}
    return await _citizen(s, hid, "rejected", details, application_number=app.number,
                          extra={"reasons": reasons, "decided_on": decision.decided_on.isoformat()})


async def _waiting(s: AsyncSession, language: str, month: dt.date) -> DemoCitizen | None:
    waiting = exists().where(Application.household_id == Household.id, Application.application_month == month,
                             Application.state.in_(WAITING_STATES))
    hid = await _first(s, _language(language), waiting)
    if hid is None:
        return None
    app = await s.scalar(select(Application).where(Application.household_id == hid,
                                                   Application.application_month == month))
    assert app is not None
    details: Params = {"number": app.number, "state": app.state, "since": str(app.submitted_at.date()),
                       "month": f"{app.decision_month:%Y-%m}"}
    return await _citizen(s, hid, "waiting", details, application_number=app.number,
                          extra={"application_state": app.state,
                                 "decision_month": app.decision_month.isoformat()})


async def _grievance(s: AsyncSession, language: str) -> DemoCitizen | None:
    open_grievance = exists().where(Grievance.household_id == Household.id, Grievance.state != "closed")
    hid = await _first(s, _language(language), open_grievance)
    if hid is None:
        return None
    g = await s.scalar(select(Grievance).where(Grievance.household_id == hid, Grievance.state != "closed")
                       .order_by(Grievance.id).limit(1))
    assert g is not None
    details: Params = {"number": g.number, "category": g.category, "state": g.state,
                       "received": str(g.received_on), "due": str(g.due_on)}
    return await _citizen(s, hid, "grievance", details, grievance_number=g.number,
                          extra={"grievance_state": g.state, "due_on": g.due_on.isoformat()})


async def _can_apply(s: AsyncSession, core: Core, language: str, today: dt.date) -> DemoCitizen | None:
    no_app = ~exists().where(Application.household_id == Household.id)
    no_enrolment = ~exists().where(Enrolment.household_id == Household.id)
    no_grievance = ~exists().where(Grievance.household_id == Household.id)
    candidates = (await s.scalars(
        select(Household.id).where(_language(language), no_app, no_enrolment, no_grievance)
        .order_by(Household.id).limit(CAN_APPLY_CANDIDATES)
    )).all()
    for hid in candidates:
        outcome = assess(await household_facts(s, hid, today), today, core.book)
        if outcome.eligible:
            details: Params = {"category": str(outcome.category), "amount": outcome.monthly_amount}
            return await _citizen(s, hid, "can_apply", details,
                                  extra={"expected_amount": outcome.monthly_amount})
    return None


async def demo_citizens(core: Core) -> list[DemoCitizen]:
    """One citizen per language and situation, where the registry holds one (see module doc)."""
    today = core.clock.today()
    month = today.replace(day=1)
    out: list[DemoCitizen] = []
    async with core.sessions() as s:
        for language in LANGUAGES:
            for situation in SITUATIONS:
                if situation == "enrolled":
                    found = await _enrolled(s, language, month)
                elif situation == "rejected":
                    found = await _rejected(s, language)
                elif situation == "waiting":
                    found = await _waiting(s, language, month)
                elif situation == "grievance":
                    found = await _grievance(s, language)
                else:
                    found = await _can_apply(s, core, language, today)
                if found is not None:
                    out.append(found)
    return out

