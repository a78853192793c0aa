"""Application use cases: submit, verify, decide, and move enrolled families through their period.

Each public function runs one use case in one unit of work. ``decide_due`` is the daily job
(``spsr decide`` and inside ``spsr serve``): it verifies submitted applications and decides every
application whose verification is complete and whose decision month has come.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError

from core import applications as rules
from core.amounts import AmountBasis
from core.eligibility import Decision as EligibilityDecision
from core.eligibility import assess
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.grievances import new_tracking_number, parse_tracking_number
from core.identity import Pinfl
from core.services import outbox
from core.services.exchange import provenance
from core.services.payments import first_open_month
from core.services.registry import household_facts, household_id_for_pinfl, phone_owns_household
from core.storage.locks import ENROLMENT, exclusive
from core.storage.schema import Application, Decision, Enrolment, Person
from core.storage.uow import SYSTEM, Actor, Core, UnitOfWork

log = logging.getLogger(__name__)

# What a family may declare changed since the registry last heard; a birth waits for the civil
# registry to confirm the child, the others are recorded for the case worker.
DECLARED_CHANGES = ("nothing", "child_born", "income_lost", "member_left", "member_joined", "other")
BLOCKING_CHANGES = frozenset({"child_born"})

APPLICATION_SERVICE_ERROR_CODES = (
    "application.duplicate_month",
    "application.already_enrolled",
    "application.not_found",
    "application.unknown_change",
    "application.not_yours",
)


@dataclass(frozen=True)
class SubmitApplication:
    """A family applies; the registry's data decides, declared changes are checked against it."""

    pinfl: str
    channel: str
    language: str
    declared_changes: tuple[str, ...] = ("nothing",)
    note: str | None = None
    idempotency_key: str | None = None
    phone: str | None = None  # when given, must be the household's registered phone


@dataclass(frozen=True)
class ApplicationView:
    number: str
    household_id: int
    programme: str
    state: str
    submitted_on: dt.date
    decision_month: dt.date
    notice_by: dt.date
    decision: EligibilityDecision | None = None
    first_month: dt.date | None = None
    last_month: dt.date | None = None
    version: int = 1


@dataclass
class DecideSummary:
    verified: int = 0
    awaiting: int = 0
    approved: int = 0
    rejected: int = 0
    enrolled: int = 0
    expired: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def decided(self) -> int:
        return self.approved + self.rejected

    def __str__(self) -> str:
        return (
            f"verified {self.verified}, awaiting data {self.awaiting}, approved {self.approved}, "
            f"rejected {self.rejected}, enrolled {self.enrolled}, expired {self.expired}"
        )


def _programme_guess(has_child: bool) -> str:
    return "child_benefit" if has_child else "material_assistance"


async def _view(uow: UnitOfWork, app: Application) -> ApplicationView:
    decision = None
    first = last = None
    if app.decision_id is not None:
        row = await uow.session.get(Decision, app.decision_id)
        if row is not None:
            decision = EligibilityDecision.from_dict(row.inputs["decision"])
            enrolment = await uow.session.scalar(select(Enrolment).where(Enrolment.decision_id == row.id))
            if enrolment is None and row.eligible:  # approved while the family was already enrolled
                first_paid = rules.add_months(app.decision_month, 1)
                enrolment = await uow.session.scalar(select(Enrolment).where(
                    Enrolment.household_id == app.household_id, Enrolment.first_month <= first_paid,
                    Enrolment.last_month >= first_paid).order_by(Enrolment.id.desc()).limit(1))
            if enrolment is not None:
                first, last = enrolment.first_month, enrolment.last_month
    return ApplicationView(
        number=app.number,
        household_id=app.household_id,
        programme=app.programme,
        state=app.state,
        submitted_on=app.submitted_at.date(),
        decision_month=app.decision_month,
        notice_by=rules.notice_by(app.decision_month),
        decision=decision,
        first_month=first,
        last_month=last,
        version=app.version,
    )


async def submit_application(uow: UnitOfWork, cmd: SubmitApplication, actor: Actor) -> ApplicationView:
    """Record an application once: a repeated request with the same key returns the first."""
    s = uow.session
    if cmd.idempotency_key:
        existing = await s.scalar(select(Application).where(Application.idempotency_key == cmd.idempotency_key))
        if existing is not None:
            return await _view(uow, existing)
    for change in cmd.declared_changes:
        if change not in DECLARED_CHANGES:
            raise InvalidInput("application.unknown_change", change=change)
    pinfl = Pinfl.parse(cmd.pinfl, today=uow.today())
    household_id = await household_id_for_pinfl(s, pinfl)
    if cmd.phone is not None and not await phone_owns_household(s, cmd.phone, household_id):
        raise Forbidden("application.not_yours")

    now = uow.now()
    today = uow.today()
    month = rules.application_month(today)
    if await s.scalar(
        select(Application.id).where(Application.household_id == household_id, Application.application_month == month)
    ):
        raise Conflict("application.duplicate_month", month=month.isoformat())
    decision_month = rules.decision_month(today, uow.book)
    running = await s.scalar(
        select(Enrolment.last_month).where(
            Enrolment.household_id == household_id,
            Enrolment.state == "active",
            Enrolment.last_month > decision_month,
        )
    )
    if running is not None:
        raise Conflict("application.already_enrolled", until=running.isoformat())

    facts = await household_facts(s, household_id, today)
    has_child = any(rules.add_months(m.birth_date, 12 * 18) > today for m in facts.members)
    app = Application(
        number=await _new_number(uow),
        household_id=household_id,
        programme=_programme_guess(has_child),
        channel=actor.channel,
        language=cmd.language,
        state=rules.SUBMITTED,
        submitted_at=now,
        application_month=month,
        decision_month=decision_month,
        declared_changes={"changes": list(cmd.declared_changes), "note": cmd.note},
        idempotency_key=cmd.idempotency_key,
        version=1,
    )
    s.add(app)
    try:
        await s.flush()
    except IntegrityError:
        # A concurrent duplicate (the same key, or a second application this month) won the race.
        raise Conflict("application.duplicate_month", month=month.isoformat()) from None
    uow.audit(actor, "application.submitted", "application", app.number, household_id=household_id,
              changes=list(cmd.declared_changes))
    await outbox.enqueue(
        uow, "application.received",
        {"number": app.number, "notice_by": rules.notice_by(decision_month)},
        household_id=household_id, dedupe_key=f"application.received:{app.number}",
    )
    return await _view(uow, app)


async def _new_number(uow: UnitOfWork) -> str:
    while True:
        number = new_tracking_number(uow.rng).digits
        if not await uow.session.scalar(select(Application.id).where(Application.number == number)):
            return number


async def find_application(uow: UnitOfWork, number: str, *, phone: str | None = None) -> ApplicationView:
    """An application by its number; with ``phone``, only for the household's own phone."""
    parsed = parse_tracking_number(number).digits
    app = await uow.session.scalar(select(Application).where(Application.number == parsed))
    if app is None:
        raise NotFound("application.not_found", number=parsed)
    if phone is not None and not await phone_owns_household(uow.session, phone, app.household_id):
        raise Forbidden("application.not_yours")
    return await _view(uow, app)


async def latest_application(uow: UnitOfWork, household_id: int) -> ApplicationView | None:
    app = await uow.session.scalar(
        select(Application).where(Application.household_id == household_id)
        .order_by(Application.submitted_at.desc(), Application.id.desc()).limit(1)
    )
    return None if app is None else await _view(uow, app)


async def verify_application(uow: UnitOfWork, app: Application, actor: Actor = SYSTEM) -> bool:
    """Check the household against the agency data the registry holds; True when complete.

    The registry's members must all carry a valid PINFL, and a declared birth must be confirmed
    by the civil registry (a child under one year in the household) before the decision.
    Other declared changes never outweigh agency data: they are noted for the case worker.
    """
    s = uow.session
    if app.state == rules.SUBMITTED:
        app.state = rules.transition(app.state, rules.VERIFYING)
        app.version += 1
        uow.audit(actor, "application.verifying", "application", app.number)
    members = (await s.scalars(select(Person).where(Person.household_id == app.household_id))).all()
    today = uow.today()
    awaiting: list[str] = []
    invalid = [m.id for m in members if not _valid_pinfl(m.pinfl)]
    if invalid:
        awaiting.append("member_pinfl_invalid")
    changes = set(app.declared_changes.get("changes", []))
    if "child_born" in changes and not any(
        rules.add_months(m.birth_date, 12) > today for m in members if m.relation in ("child", "grandchild")
    ):
        awaiting.append("civil_registry_birth")
    if awaiting:
        return False
    app.verified_at = uow.now()
    unconfirmed = sorted(changes - BLOCKING_CHANGES - {"nothing"})
    uow.audit(actor, "application.verified", "application", app.number, unconfirmed_declarations=unconfirmed)
    return True


def _valid_pinfl(value: str) -> bool:
    try:
        Pinfl.parse(value)
    except InvalidInput:
        return False
    return True


async def decide_application(uow: UnitOfWork, app: Application, actor: Actor = SYSTEM) -> Decision:
    """Assess the household against the rules in force on the application date; enrol if eligible."""
    s = uow.session
    submitted_on = app.submitted_at.date()
    facts = await household_facts(s, app.household_id, submitted_on)
    # Judged as the family stood on the day it applied: a child born since (registered after the
    # application) was no member then. Left in, the rules refused the whole decision, every day.
    facts = dataclasses.replace(facts, members=tuple(m for m in facts.members if m.birth_date <= submitted_on))
    outcome = assess(facts, submitted_on, uow.book)
    sources = (await provenance(uow, [app.household_id])).get(app.household_id, {})
    row = Decision(
        household_id=app.household_id,
        application_id=app.id,
        decided_on=uow.today(),
        eligible=outcome.eligible,
        category=outcome.category,
        programme=outcome.programme,
        amount=outcome.monthly_amount,
        share_percent=outcome.share_percent,
        duration_months=outcome.duration_months,
        mce=outcome.mce,
        income_per_member=outcome.income_per_member,
        reasons=[{"code": r.code, "params": dict(r.params)} for r in outcome.reasons],
        inputs={"trigger": "application", "decision": outcome.to_dict(), "provenance": sources},
        created_at=uow.now(),
    )
    s.add(row)
    await s.flush()
    app.decision_id = row.id
    app.decided_at = uow.now()
    app.programme = outcome.programme
    app.version += 1
    params: dict[str, Any] = {"number": app.number}
    if outcome.eligible:
        app.state = rules.transition(app.state, rules.APPROVED)
        first, _ = rules.enrolment_period(app.decision_month, outcome.duration_months)
        # Next month's payroll may be approved already: paid from the first month still open.
        first = await first_open_month(s, first)
        last = rules.add_months(first, outcome.duration_months - 1)
        # Agency data may have enrolled the family while the application waited for its month:
        # that enrolment goes on, and a second one would pay the family twice.
        running = await s.scalar(select(Enrolment).where(
            Enrolment.household_id == app.household_id, Enrolment.state == "active", Enrolment.last_month >= first,
        ).order_by(Enrolment.last_month.desc()).limit(1))
        if running is not None:
            app.state = rules.transition(app.state, rules.ENROLLED)
            template = "application.already_enrolled"
            params |= {"amount": running.amount,
                       "paid_until": rules.last_day_of_month(running.last_month)}
        else:
            basis = AmountBasis.from_codes(outcome.programme, [
                line["code"] for line in (outcome.inputs.get("amount") or {}).get("lines", [])],
                outcome.share_percent)
            s.add(Enrolment(
                household_id=app.household_id, programme=outcome.programme, category=outcome.category,
                decision_id=row.id, first_month=first, last_month=last, amount=outcome.monthly_amount,
                state="active", children=basis.children, infant=basis.infant, share_percent=basis.share_percent,
            ))
            template = "application.approved"
            params |= {"amount": outcome.monthly_amount, "first_month": first, "months": outcome.duration_months}
    else:
        app.state = rules.transition(app.state, rules.REJECTED)
        template = "application.rejected"
        params |= {"reasons": [r.code for r in outcome.reasons if r.code.startswith(("exclusion.", "income."))]}
    uow.audit(actor, f"application.{app.state}", "application", app.number, decision_id=row.id,
              category=outcome.category, amount=outcome.monthly_amount,
              reasons=[r.code for r in outcome.reasons])
    await outbox.enqueue(uow, template, params, household_id=app.household_id,
                         dedupe_key=f"{template}:{app.number}")
    return row


BATCH = 500
# On SQLite a batch holds the one write lock: 500 decisions held it over 10 s on a registry of
# 60,000 households, and agency batches and the SMS sender waited out their timeouts meanwhile.
SQLITE_BATCH = 50


async def decide_due(core: Core, actor: Actor = SYSTEM, *, wait: bool = True,
                     on_wait: Callable[[], None] | None = None) -> DecideSummary:
    """The daily run: verify what is waiting, decide what is due, start and end enrolments.

    Works in batches of a few hundred applications, one transaction each, so a failure loses
    at most one batch's progress and the run can simply be repeated. Runs alone, never beside an
    assessment pass (:data:`core.storage.locks.ENROLMENT`): waits for it, or with ``wait=False``
    raises :class:`core.storage.locks.Busy`.
    """
    async with exclusive(core.engine, ENROLMENT, wait=wait, on_wait=on_wait):
        return await _decide_due(core, actor)


async def _decide_due(core: Core, actor: Actor) -> DecideSummary:
    summary = DecideSummary()
    today = core.clock.today()
    this_month = today.replace(day=1)
    size = SQLITE_BATCH if core.engine.dialect.name == "sqlite" else BATCH
    last_id = 0
    while True:
        async with core.uow() as uow:
            batch = (await uow.session.scalars(
                select(Application)
                .where(Application.state.in_((rules.SUBMITTED, rules.VERIFYING)), Application.id > last_id)
                .order_by(Application.id).limit(size)
                # One a member of staff is deciding through the API right now is left for the next run.
                .with_for_update(skip_locked=True)
            )).all()
            if not batch:
                break
            for app in batch:
                last_id = app.id
                complete = app.verified_at is not None or await verify_application(uow, app, actor)
                if not complete:
                    summary.awaiting += 1
                    continue
                summary.verified += 1
                if app.decision_month > this_month:
                    continue
                try:
                    async with uow.session.begin_nested():
                        decision = await decide_application(uow, app, actor)
                except Exception as exc:  # one bad household must not stop the national run
                    log.exception("deciding application %s failed", app.number)
                    summary.errors.append(f"{app.number}: {exc}")
                    continue
                if decision.eligible:
                    summary.approved += 1
                else:
                    summary.rejected += 1
            await uow.commit()
    enrolled, expired = await advance_enrolments(core, actor)
    summary.enrolled, summary.expired = enrolled, expired
    return summary


async def advance_enrolments(core: Core, actor: Actor = SYSTEM) -> tuple[int, int]:
    """Approved applications become enrolled when their first month comes; periods that ended expire."""
    this_month = core.clock.today().replace(day=1)
    async with core.uow() as uow:
        s = uow.session
        starting = (await s.execute(
            select(Application.id, Application.number).join(Decision, Decision.id == Application.decision_id)
            .join(Enrolment, Enrolment.decision_id == Decision.id)
            .where(Application.state == rules.APPROVED, Enrolment.first_month <= this_month)
        )).all()
        for app_id, number in starting:
            await s.execute(update(Application).where(Application.id == app_id).values(
                state=rules.ENROLLED, version=Application.version + 1))
            uow.audit(actor, "application.enrolled", "application", number)
        ending = (await s.execute(
            select(Enrolment.id, Enrolment.household_id, Enrolment.last_month).where(
                Enrolment.state == "active", Enrolment.last_month < this_month)
        )).all()
        for enrolment_id, household_id, last_month in ending:
            # It ended with its last month, whatever day this run notices it (one an assessment
            # ended early already says when).
            await s.execute(update(Enrolment).where(Enrolment.id == enrolment_id).values(
                state="ended", ended_on=func.coalesce(Enrolment.ended_on, rules.last_day_of_month(last_month))))
            # The application this enrolment came from, and one approved while the family was
            # already enrolled (it has no enrolment of its own) once no other enrolment runs.
            own = Application.decision_id.in_(select(Enrolment.decision_id).where(Enrolment.id == enrolment_id))
            goes_on = exists().where(
                Enrolment.household_id == household_id, Enrolment.state == "active", Enrolment.id != enrolment_id)
            covered = ~exists().where(Enrolment.decision_id == Application.decision_id) & ~goes_on
            await s.execute(
                update(Application)
                .where(Application.household_id == household_id, Application.state == rules.ENROLLED, own | covered)
                .values(state=rules.EXPIRED, version=Application.version + 1)
            )
            uow.audit(actor, "enrolment.ended", "enrolment", enrolment_id, household_id=household_id)
            # A family enrolled again for the months after (still eligible) was told so when it
            # was: "your assistance has ended, apply again" would be wrong.
            if not await s.scalar(select(goes_on)):
                await outbox.enqueue(uow, "enrolment.ended", {}, household_id=household_id,
                                     dedupe_key=f"enrolment.ended:{enrolment_id}")
        await uow.commit()
    return len(starting), len(ending)
