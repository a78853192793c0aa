"""Automatic assignment: re-assess households whose data changed, enrol and end, tell the family.

Streaming and set-based: households are read in key order, a chunk at a time (one transaction
per chunk, so a failure loses at most one chunk and a re-run resumes); a chunk's members,
incomes (summed per household and month by SQL over the three counted months), assets, bank
balances, provenance, enrolments and contacts come in one query each; the pure ``assess``
decides; decisions, enrolments and notices are written with bulk inserts.

Enrolment rules:

- eligible and no active enrolment covering next month → a new enrolment from next month for
  the decided duration, at the decided amount; a family that was due to end is reinstated;
- not eligible with an active enrolment → it ends at the end of its period: ``ended_on`` is set
  to the last day of its ``last_month`` (never cut mid-period); ``advance_enrolments`` moves it
  to ``ended`` once that month is over;
- every assessed household gets a decision with its reasons, its inputs and a ``provenance``
  map naming the agency, record id and as-of date of each agency value the registry holds.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update

from core.applications import add_months
from core.eligibility import (
    HouseholdFacts,
    IncomeFacts,
    MemberFacts,
    PropertyFacts,
    VehicleFacts,
    assess,
    income_months,
)
from core.errors import DomainError
from core.services.exchange import provenance
from core.services.outbox import PRIORITY_NOTICE
from core.storage.schema import (
    BankBalance,
    Contact,
    Decision,
    Enrolment,
    Household,
    Income,
    OutboxMessage,
    Person,
    PhonePreference,
    Property,
    Vehicle,
)
from core.storage.uow import SYSTEM, Actor, Core, UnitOfWork

log = logging.getLogger(__name__)

ASSESSMENT_ERROR_CODES: tuple[str, ...] = ()  # a household the rules refuse is counted, not raised
CHUNK = 1000


@dataclass
class AssessSummary:
    assessed: int = 0
    eligible: int = 0
    enrolled: int = 0
    ending: int = 0
    reinstated: int = 0
    notices: int = 0
    errors: int = 0

    def __str__(self) -> str:
        return (f"assessed {self.assessed}, eligible {self.eligible}, enrolled {self.enrolled}, "
                f"ending {self.ending}, reinstated {self.reinstated}, notices {self.notices}, "
                f"errors {self.errors}")


def _due(everything: bool) -> Any:
    if everything:
        return True
    return or_(Household.assessed_at.is_(None), Household.data_changed_at > Household.assessed_at)


async def households_due(core: Core, *, everything: bool = False) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Household).where(_due(everything)))
                   or 0)


async def assess_households(
    core: Core,
    *,
    everything: bool = False,
    actor: Actor = SYSTEM,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> AssessSummary:
    """Re-assess every household whose data changed since its last assessment (all with ``everything``)."""
    summary = AssessSummary()
    last_id = 0
    while True:
        async with core.uow() as uow:
            ids = list((await uow.session.scalars(
                select(Household.id).where(_due(everything), Household.id > last_id)
                .order_by(Household.id).limit(chunk))).all())
            if not ids:
                break
            await _assess_chunk(uow, ids, summary)
            await uow.commit()
        last_id = ids[-1]
        if progress is not None:
            progress(len(ids))
    async with core.uow() as uow:
        uow.audit(actor, "assessment.run", "assessment", uow.today().isoformat(), everything=everything,
                  assessed=summary.assessed, enrolled=summary.enrolled, ending=summary.ending)
        await uow.commit()
    return summary


Route = tuple[str, str | None, int | None, str]  # channel, phone, telegram chat, language


async def notice_routes(uow: UnitOfWork, ids: Sequence[int]) -> dict[int, Route]:
    """How to reach each household, in one query (the set-based form of ``outbox.route_for_household``)."""
    routes: dict[int, Route] = {}
    for hid, phone, language, chat, blocked, stopped in await uow.session.execute(
            select(Contact.household_id, Contact.phone, Contact.language, Contact.telegram_chat_id,
                   Contact.telegram_blocked, PhonePreference.sms_stopped)
            .outerjoin(PhonePreference, PhonePreference.phone == Contact.phone)
            .where(Contact.household_id.in_(ids))):
        if chat is not None and not blocked:
            routes[hid] = ("telegram", phone, chat, language)
        elif not stopped:
            routes[hid] = ("sms", phone, None, language)
    return routes


def notice_row(now: dt.datetime, hid: int, route: Route, template: str, params: dict[str, Any],
               key: str) -> dict[str, Any]:
    channel, phone, chat, language = route
    return {"created_at": now, "household_id": hid, "phone": phone, "telegram_chat_id": chat,
            "channel": channel, "priority": PRIORITY_NOTICE, "language": language, "template": template,
            "params": params, "text": None, "state": "pending", "attempts": 0, "next_attempt_at": now,
            "dedupe_key": key}


async def insert_notices(uow: UnitOfWork, notices: list[dict[str, Any]]) -> int:
    """Bulk-queue notices, skipping any whose dedupe key is already queued."""
    if not notices:
        return 0
    keys = [n["dedupe_key"] for n in notices]
    taken: set[str | None] = set()
    for i in range(0, len(keys), 900):
        taken.update((await uow.session.scalars(
            select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys[i:i + 900])))).all())
    fresh = [n for n in notices if n["dedupe_key"] not in taken]
    if fresh:
        await uow.session.execute(insert(OutboxMessage), fresh)
    return len(fresh)


def _last_day(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


async def _assess_chunk(uow: UnitOfWork, ids: Sequence[int], summary: AssessSummary) -> None:
    s = uow.session
    today, now = uow.today(), uow.now()
    this_month = today.replace(day=1)
    next_month = add_months(this_month, 1)
    months = income_months(today)

    members: dict[int, list[MemberFacts]] = defaultdict(list)
    for hid, pinfl, birth, sex, relation, disability, body in await s.execute(
            select(Person.household_id, Person.pinfl, Person.birth_date, Person.sex, Person.relation,
                   Person.disability, Person.service_body)
            .where(Person.household_id.in_(ids)).order_by(Person.household_id, Person.id)):
        members[hid].append(MemberFacts(pinfl, birth, sex, relation, disability, body))
    incomes: dict[int, list[IncomeFacts]] = defaultdict(list)
    for hid, month, source, total in await s.execute(
            select(Income.household_id, Income.month, Income.source, func.sum(Income.amount))
            .where(Income.household_id.in_(ids), Income.month.in_(months))
            .group_by(Income.household_id, Income.month, Income.source)):
        incomes[hid].append(IncomeFacts(month, source, int(total)))
    vehicles: dict[int, list[VehicleFacts]] = defaultdict(list)
    for hid, year, roadworthy in await s.execute(
            select(Vehicle.household_id, Vehicle.year, Vehicle.roadworthy).where(Vehicle.household_id.in_(ids))):
        vehicles[hid].append(VehicleFacts(year, bool(roadworthy)))
    properties: dict[int, list[PropertyFacts]] = defaultdict(list)
    for hid, kind in await s.execute(
            select(Property.household_id, Property.kind).where(Property.household_id.in_(ids))):
        properties[hid].append(PropertyFacts(kind))
    balances: dict[int, int] = {hid: int(total) for hid, total in await s.execute(
        select(BankBalance.household_id, func.sum(BankBalance.amount))
        .where(BankBalance.household_id.in_(ids)).group_by(BankBalance.household_id))}
    sources = await provenance(uow, ids)
    active: dict[int, list[tuple[int, dt.date, dt.date | None]]] = defaultdict(list)
    for eid, hid, last, ended_on in await s.execute(
            select(Enrolment.id, Enrolment.household_id, Enrolment.last_month, Enrolment.ended_on)
            .where(Enrolment.household_id.in_(ids), Enrolment.state == "active")):
        active[hid].append((eid, last, ended_on))
    routes = await notice_routes(uow, ids)

    decisions: list[dict[str, Any]] = []
    outcomes = {}
    for hid in ids:
        facts = HouseholdFacts(tuple(members.get(hid, ())), tuple(incomes.get(hid, ())),
                               tuple(vehicles.get(hid, ())), tuple(properties.get(hid, ())), balances.get(hid, 0))
        try:
            outcome = assess(facts, today, uow.book)
        except DomainError as exc:
            log.warning("household %s cannot be assessed: %s", hid, exc)
            summary.errors += 1
            continue
        outcomes[hid] = outcome
        decisions.append({
            "household_id": hid, "application_id": None, "decided_on": today, "eligible": outcome.eligible,
            "category": outcome.category, "programme": outcome.programme, "amount": outcome.monthly_amount,
            "share_percent": outcome.share_percent, "duration_months": outcome.duration_months,
            "mce": outcome.mce, "income_per_member": outcome.income_per_member,
            "reasons": [r.to_dict() for r in outcome.reasons],
            "inputs": {"decision": outcome.to_dict(), "trigger": "assessment",
                       "provenance": sources.get(hid, {})},
            "created_at": now,
        })
    if not decisions:
        return
    decision_ids = {hid: did for did, hid in await s.execute(
        insert(Decision).returning(Decision.id, Decision.household_id, sort_by_parameter_order=True), decisions)}

    new_enrolments: list[dict[str, Any]] = []
    ending: list[tuple[int, int, dt.date]] = []
    reinstate: list[int] = []
    for hid, outcome in outcomes.items():
        summary.assessed += 1
        running = active.get(hid, [])
        if outcome.eligible:
            summary.eligible += 1
            covering = [e for e in running if e[1] >= next_month]
            if covering:
                reinstate.extend(eid for eid, _, ended_on in covering if ended_on is not None)
                continue
            new_enrolments.append({
                "household_id": hid, "programme": outcome.programme, "category": outcome.category,
                "decision_id": decision_ids[hid], "first_month": next_month,
                "last_month": add_months(next_month, outcome.duration_months - 1),
                "amount": outcome.monthly_amount, "state": "active", "ended_on": None})
        else:
            ending.extend((eid, hid, last) for eid, last, ended_on in running
                          if ended_on is None and last >= this_month)

    notices: list[dict[str, Any]] = []

    def notice(hid: int, template: str, params: dict[str, Any], key: str) -> None:
        route = routes.get(hid)
        if route is not None:
            notices.append(notice_row(now, hid, route, template, params, key))

    if new_enrolments:
        rows = await s.execute(
            insert(Enrolment).returning(Enrolment.id, Enrolment.household_id, sort_by_parameter_order=True),
            new_enrolments)
        for (eid, hid), row in zip(rows, new_enrolments, strict=True):
            notice(hid, "enrolment.started", {
                "programme": row["programme"], "amount": row["amount"],
                "first_month": row["first_month"].isoformat(), "last_month": row["last_month"].isoformat(),
                "months": outcomes[hid].duration_months}, f"enrolment.started:{eid}")
        summary.enrolled += len(new_enrolments)
    if ending:
        t = Enrolment.__table__
        await s.execute(update(t).where(t.c.id == bindparam("eid")).values(ended_on=bindparam("end")),
                        [{"eid": eid, "end": _last_day(last)} for eid, _, last in ending])
        for eid, hid, last in ending:
            notice(hid, "enrolment.ending", {
                "last_month": last.isoformat(),
                "reasons": [r.code for r in outcomes[hid].reasons if r.code.startswith(("exclusion.", "income."))]},
                f"enrolment.ending:{eid}")
        summary.ending += len(ending)
    if reinstate:
        await s.execute(update(Enrolment).where(and_(Enrolment.id.in_(reinstate))).values(ended_on=None))
        summary.reinstated += len(reinstate)
    summary.notices += await insert_notices(uow, notices)
    await s.execute(update(Household).where(Household.id.in_(ids)).values(assessed_at=now))
