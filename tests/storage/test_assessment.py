"""Automatic assignment: changed households are re-assessed, enrolled from next month, or ended at
the end of their period; each decision says which agency's data decided it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text, update

from core.eligibility import Decision as EligibilityDecision
from core.services.applications import advance_enrolments
from core.services.assessment import _assess_range, _statements, assess_households
from core.services.decisions import decision_document, provenance_of, trigger_of
from core.services.exchange import ingest
from core.services.messages import render
from core.services.payments import approve_payroll, open_payroll
from core.services.registry import household_facts
from core.storage.engine import create_engine, session_factory
from core.storage.schema import Decision, Enrolment, OutboxMessage, Person
from core.storage.uow import Actor, Core
from tests.storage.factories import make_family

pytestmark = pytest.mark.postgres


def wages(pinfl: str, amount: int, prefix: str, as_of: str = "2026-12-05") -> list[dict[str, object]]:
    return [{"agency": "soliq", "item": "soliq.wage", "pinfl": pinfl, "key": f"2026-{m}/301234567",
             "value": amount, "unit": "UZS", "as_of": as_of, "record_id": f"{prefix}-{m}"}
            for m in ("09", "10", "11")]


async def enrolments(core: Core, household_id: int) -> list[Enrolment]:
    async with core.uow() as uow:
        rows = list((await uow.session.scalars(
            select(Enrolment).where(Enrolment.household_id == household_id).order_by(Enrolment.id))).all())
        uow.session.expunge_all()  # keep the loaded values readable after the session closes
    return rows


async def templates(core: Core, household_id: int) -> list[str]:
    async with core.uow() as uow:
        return list((await uow.session.scalars(select(OutboxMessage.template).where(
            OutboxMessage.household_id == household_id).order_by(OutboxMessage.id))).all())


async def test_a_poor_family_is_enrolled_from_next_month_and_the_decision_names_the_agency(core: Core, clock) -> None:
    household_id, head = await make_family(core, children=(dt.date(2025, 1, 1),))
    await ingest(core, wages(head, 400_000, "W"))
    summary = await assess_households(core)
    assert (summary.assessed, summary.eligible, summary.enrolled, summary.notices) == (1, 1, 1, 1)
    [enrolment] = await enrolments(core, household_id)
    assert (enrolment.first_month, enrolment.state, enrolment.amount) == (dt.date(2027, 1, 1), "active", 360_000)
    assert enrolment.last_month == dt.date(2027, 6, 1)  # six months for the poor
    async with core.uow() as uow:
        decision = await uow.session.get(Decision, enrolment.decision_id)
        assert decision is not None and decision.eligible and decision.application_id is None
        # The decision keeps its figures as columns and the ids of its exchange records; the
        # provenance is read back through them.
        assert decision.inputs == {} and decision.sources
        assert (decision.members, decision.children, decision.youngest_child_birth_date, decision.amount_total) == (
            3, 1, dt.date(2025, 1, 1), 360_000)
        source = (await provenance_of(uow, [decision]))[decision.id][f"{head}:soliq.wage|2026-11/301234567"]
        # Received now, and said in Tashkent time on either database.
        assert source == {"agency": "soliq", "record_id": "W-11", "as_of": "2026-12-05",
                          "received_at": core.clock.now().isoformat()}
        assert [r["code"] for r in decision.reasons] == ["income.below_threshold", "category.poor"]
        # Readers get the same document as for an application's decision.
        document = EligibilityDecision.from_dict(decision_document(decision, core.book))
        assert (document.eligible, document.category, document.monthly_amount, document.members) == (
            True, "poor", 360_000, 3)
        assert [r.code for r in document.reasons] == ["income.below_threshold", "category.poor"]
        assert (document.inputs["children"], document.inputs["youngest_child_birth_date"],
                document.inputs["scheme"], trigger_of(decision)) == (1, "2025-01-01", "categories", "assessment")
    assert await templates(core, household_id) == ["enrolment.started"]

    # Nothing changed: nothing to do; --all re-assesses but does not enrol twice.
    assert (await assess_households(core)).assessed == 0
    again = await assess_households(core, everything=True)
    assert (again.assessed, again.enrolled) == (1, 0)
    assert len(await enrolments(core, household_id)) == 1


async def test_a_decision_names_only_the_income_months_it_counted(core: Core, clock) -> None:
    """The household holds wages of August too, and a formal job; the decision of 10 December
    counted September to November, and its provenance names those three wages and nothing else."""
    household_id, head = await make_family(core, children=(dt.date(2025, 1, 1),))
    august = {**wages(head, 400_000, "W")[0], "key": "2026-08/301234567", "record_id": "W-08"}
    job = {"agency": "bandlik", "item": "bandlik.formal_job", "pinfl": head, "value": True, "as_of": "2026-12-05",
           "record_id": "J-1"}  # kept by the registry, read by no rule
    await ingest(core, [*wages(head, 400_000, "W"), august, job])
    await assess_households(core)
    async with core.uow() as uow:
        decision = await uow.session.scalar(select(Decision).where(Decision.household_id == household_id,
                                                                   Decision.application_id.is_(None)))
        assert decision is not None
        named = (await provenance_of(uow, [decision]))[decision.id]
    assert sorted(v["record_id"] for v in named.values()) == ["W-09", "W-10", "W-11"]


async def test_a_family_found_after_next_month_s_payroll_was_approved_is_enrolled_from_the_month_after(
        core: Core, clock) -> None:
    """From an approved payroll's month the family would never be paid: its enrolment, its months
    and its notice start from the first month whose payroll is still open."""
    first, head = await make_family(core, children=(dt.date(2025, 1, 1),))
    await ingest(core, wages(head, 400_000, "W"))
    await assess_households(core)
    await open_payroll(core, dt.date(2027, 1, 1), Actor("staff", "dilnoza.karimova", "cli"))
    await approve_payroll(core, dt.date(2027, 1, 1), Actor("staff", "jasur.toshmatov", "cli"))
    clock.advance(dt.timedelta(hours=2))
    later, head = await make_family(core, phone="+998901234500", children=(dt.date(2025, 1, 1),))
    await ingest(core, wages(head, 400_000, "L"))
    assert (await assess_households(core)).enrolled == 1
    [enrolment] = await enrolments(core, later)
    assert (enrolment.first_month, enrolment.last_month) == (dt.date(2027, 2, 1), dt.date(2027, 7, 1))
    async with core.uow() as uow:
        notice = await uow.session.scalar(select(OutboxMessage).where(OutboxMessage.household_id == later))
        assert notice is not None and notice.template == "enrolment.started"
        assert notice.params["first_month"] == "2027-02-01"
    assert [e.first_month for e in await enrolments(core, first)] == [dt.date(2027, 1, 1)]


async def test_a_family_whose_data_never_changes_is_reviewed_in_the_last_month_of_its_period(
        core: Core, clock) -> None:
    """No wage, no pension: no agency ever sends a record, so the family is never 'changed'. The
    daily pass reviews it in its period's last month and, still eligible, it goes on being paid."""
    household_id, _ = await make_family(core, children=(dt.date(2025, 1, 1),))
    assert (await assess_households(core)).enrolled == 1
    clock.set(dt.date(2027, 5, 10))
    assert (await assess_households(core)).assessed == 0  # nothing changed, the period runs on
    clock.set(dt.date(2027, 6, 1))
    counted: list[int] = []
    summary = await assess_households(core, on_start=counted.append)
    assert counted == [1]  # the progress bar counts it
    assert (summary.assessed, summary.eligible, summary.enrolled) == (1, 1, 1)
    assert [(e.first_month, e.last_month) for e in await enrolments(core, household_id)] == [
        (dt.date(2027, 1, 1), dt.date(2027, 6, 1)), (dt.date(2027, 7, 1), dt.date(2027, 12, 1))]
    assert await templates(core, household_id) == ["enrolment.started", "enrolment.started"]
    clock.advance(dt.timedelta(hours=3))
    assert (await assess_households(core)).assessed == 0  # reviewed once a month


async def test_a_family_no_longer_eligible_ends_at_the_end_of_its_period(core: Core, clock) -> None:
    household_id, head = await make_family(core, children=(dt.date(2025, 1, 1),))
    await ingest(core, wages(head, 400_000, "W"))
    await assess_households(core)
    clock.advance(dt.timedelta(hours=2))
    await ingest(core, wages(head, 9_000_000, "NEW", as_of="2026-12-09"))
    summary = await assess_households(core)
    assert (summary.assessed, summary.eligible, summary.ending) == (1, 0, 1)
    [enrolment] = await enrolments(core, household_id)
    # Not cut mid-period: paid to the end of June, then over.
    assert (enrolment.state, enrolment.last_month, enrolment.ended_on) == (
        "active", dt.date(2027, 6, 1), dt.date(2027, 6, 30))
    assert await templates(core, household_id) == ["enrolment.started", "enrolment.ending"]
    async with core.uow() as uow:
        ending = await uow.session.scalar(select(OutboxMessage).where(OutboxMessage.template == "enrolment.ending"))
        assert ending is not None
        text = render(ending.template, ending.params, "uz")
        first_reason = ending.params["reasons"][0]["code"]
    assert first_reason == "income.above_threshold"
    assert "2027-yil 30-iyungacha" in text and "9 000 000" not in text and "1140" in text
    async with core.uow() as uow:
        latest = await uow.session.scalar(select(Decision).order_by(Decision.id.desc()).limit(1))
        assert latest is not None and not latest.eligible
        sources = (await provenance_of(uow, [latest]))[latest.id]
        assert sources[f"{head}:soliq.wage|2026-11/301234567"]["record_id"] == "NEW-11"
        assert "income.above_threshold" in [r["code"] for r in latest.reasons]
    # July: the period is over. It ended on the last day of June, whatever day the run noticed it.
    clock.set(dt.date(2027, 7, 12))
    await advance_enrolments(core)
    [enrolment] = await enrolments(core, household_id)
    assert (enrolment.state, enrolment.ended_on) == ("ended", dt.date(2027, 6, 30))


async def notices(core: Core, household_id: int) -> list[tuple[str, str]]:
    async with core.uow() as uow:
        return [(t, st) for t, st in (await uow.session.execute(select(OutboxMessage.template, OutboxMessage.state)
                .where(OutboxMessage.household_id == household_id).order_by(OutboxMessage.id))).all()]


async def test_a_family_eligible_again_keeps_its_enrolment_and_is_told_only_what_stands(core: Core, clock) -> None:
    """Reinstated before its ending notice went out: the notice is withdrawn. Reinstated after it
    went out: the family is told its assistance goes on. Ending a second time: told again."""
    household_id, head = await make_family(core, children=(dt.date(2025, 1, 1),))
    await ingest(core, wages(head, 400_000, "LOW1"))
    await assess_households(core)

    async def wage(amount: int, prefix: str) -> None:
        clock.advance(dt.timedelta(hours=2))
        await ingest(core, wages(head, amount, prefix, as_of=clock.today().isoformat()))

    await wage(9_000_000, "HIGH1")
    assert (await assess_households(core)).ending == 1
    await wage(400_000, "LOW2")  # before the sender ran
    summary = await assess_households(core)
    assert (summary.reinstated, summary.notices) == (1, 0)
    [enrolment] = await enrolments(core, household_id)
    assert (enrolment.state, enrolment.ended_on) == ("active", None)
    assert await notices(core, household_id) == [
        ("enrolment.started", "pending"), ("enrolment.ending", "withdrawn")]

    await wage(9_000_000, "HIGH2")  # ending again: its own notice, though the enrolment is the same
    again = await assess_households(core)
    assert (again.ending, again.notices) == (1, 1)
    async with core.uow() as uow:  # this time the sender got it out
        await uow.session.execute(update(OutboxMessage).where(OutboxMessage.state == "pending")
                                  .values(state="sent"))
        await uow.commit()
    await wage(400_000, "LOW3")
    back = await assess_households(core)
    assert (back.reinstated, back.notices) == (1, 1)
    assert await notices(core, household_id) == [
        ("enrolment.started", "sent"), ("enrolment.ending", "withdrawn"), ("enrolment.ending", "sent"),
        ("enrolment.continues", "pending")]
    async with core.uow() as uow:
        told = await uow.session.scalar(select(OutboxMessage).where(OutboxMessage.template == "enrolment.continues"))
        assert told is not None
        for language, until in (("uz", "2027-yil 30-iyungacha"), ("ru", "30 июня 2027 г. включительно")):
            assert until in render(told.template, told.params, language)
    # The same decision again changes nothing: --all decides afresh, but the family is eligible and enrolled.
    assert (await assess_households(core, everything=True)).notices == 0


async def test_two_passes_at_once_enrol_each_family_once(core: Core, clock) -> None:
    """Passes run one at a time, whoever starts them (the server's timer, cron, a person): two at
    once would both find a family due and both enrol it."""
    import asyncio

    from core.storage.locks import ENROLMENT, Busy, exclusive

    families = [(await make_family(core, phone=f"+9989012346{i:02d}", children=(dt.date(2025, 1, 1),),
                                   monthly_income=300_000))[0] for i in range(12)]
    clock.advance(dt.timedelta(hours=1))
    waited: list[int] = []
    async with exclusive(core.engine, ENROLMENT):  # both start while something else enrols
        runs = [asyncio.ensure_future(assess_households(core, chunk=1, on_wait=lambda i=i: waited.append(i)))
                for i in range(2)]
        await asyncio.sleep(0.5)
        assert sorted(waited) == [0, 1] and not any(run.done() for run in runs)
    first, second = await asyncio.gather(*runs)
    assert (first.assessed + second.assessed, first.enrolled + second.enrolled) == (12, 12)
    assert (first.errors, second.errors) == (0, 0)
    for household_id in families:
        assert len(await enrolments(core, household_id)) == 1
    # The server's timer does not wait: a pass already running does the work.
    async with exclusive(core.engine, ENROLMENT):
        with pytest.raises(Busy):
            await assess_households(core, wait=False)


async def test_a_rich_family_is_decided_and_not_enrolled(core: Core) -> None:
    household_id, _ = await make_family(core, monthly_income=20_000_000)
    summary = await assess_households(core)
    assert (summary.assessed, summary.eligible, summary.enrolled, summary.notices) == (1, 0, 0, 0)
    assert await enrolments(core, household_id) == []


async def test_serve_assigns_benefits_as_agency_data_arrives(core: Core, monkeypatch) -> None:
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from spsr import jobs
    from spsr.server import CORE

    household_id, head = await make_family(core, children=(dt.date(2025, 1, 1),))
    await ingest(core, wages(head, 400_000, "W"))
    monkeypatch.setenv("SPSR_ASSESS_EVERY_SECONDS", "0.2")
    app = web.Application()
    app[CORE] = core
    jobs.mount(app)
    server = TestServer(app)
    await server.start_server()
    try:
        for _ in range(100):
            if await enrolments(core, household_id):
                break
            await asyncio.sleep(0.1)
    finally:
        await server.close()
    [enrolment] = await enrolments(core, household_id)
    assert (enrolment.state, enrolment.amount) == ("active", 360_000)
    assert await templates(core, household_id) == ["enrolment.started"]


async def test_the_summary_counts_what_both_workers_wrote(core: Core, clock) -> None:
    """Two workers share one summary: every range's counts arrive, none is lost to the other's."""
    from sqlalchemy import func

    from core.seed.loader import seed_registry

    await seed_registry(core, 400, 11)
    async with core.uow() as uow:
        enrolled_before = int(await uow.session.scalar(select(func.count()).select_from(Enrolment)) or 0)
        notices_before = int(await uow.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)
    summary = await assess_households(core, everything=True, chunk=40, workers=2)
    async with core.uow() as uow:
        decisions = int(await uow.session.scalar(
            select(func.count()).select_from(Decision).where(Decision.application_id.is_(None))) or 0)
        eligible = int(await uow.session.scalar(
            select(func.count()).select_from(Decision).where(Decision.application_id.is_(None), Decision.eligible))
            or 0)
        enrolled = int(await uow.session.scalar(select(func.count()).select_from(Enrolment)) or 0) - enrolled_before
        notices = int(await uow.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0) - notices_before
    assert summary.enrolled > 10 and summary.notices > 10
    assert (summary.assessed, summary.eligible, summary.enrolled, summary.notices) == (
        decisions, eligible, enrolled, notices)


async def test_each_range_is_planned_for_its_own_ids_however_many_a_connection_runs(
        core: Core, database_url: str) -> None:
    """From its sixth run of a prepared statement PostgreSQL may switch to a generic plan, blind to the
    range's size (0.8 s a range became 48 s at 200,000 households). Every range is planned anew."""
    if core.engine.dialect.name != "postgresql":
        pytest.skip("plan caching of prepared statements is PostgreSQL's")
    for n in range(8):
        await make_family(core, phone=f"+99890123450{n}", children=(dt.date(2025, 1, 1),), monthly_income=300_000)
    one = create_engine(database_url, pool_size=1, max_overflow=0)  # every range on the same connection
    try:
        single = Core(engine=one, sessions=session_factory(one), clock=core.clock, book=core.book, rng=core.rng)
        async with single.engine.connect() as conn:
            low = int(await conn.scalar(text("SELECT MIN(id) FROM households")) or 0)
            high = int(await conn.scalar(text("SELECT MAX(id) FROM households")) or 0)
        summary = await assess_households(single, everything=True, chunk=1, workers=1)
        assert summary.assessed == 8 and high - low + 1 >= 8
        async with single.engine.connect() as conn:
            plans = (await conn.execute(text(
                "SELECT generic_plans, custom_plans, left(statement, 120) FROM pg_prepared_statements "
                "WHERE statement LIKE '%INSERT INTO decisions%WITH m AS%' AND statement NOT LIKE '%pg_prepared%'"))).all()
        assert plans and all(generic == 0 and custom >= 8 for generic, custom, _ in plans), plans
    finally:
        await one.dispose()


async def test_a_range_runs_without_jit_and_its_settings_end_with_it(core: Core) -> None:
    """Compiling the decisions statement's expressions cost an eighth of each range and was never
    repaid; the settings are the range transaction's own and do not outlive it."""
    if core.engine.dialect.name != "postgresql":
        pytest.skip("JIT and plan caching are PostgreSQL's")
    household, _ = await make_family(core, phone="+998901234599", children=(dt.date(2025, 1, 1),),
                                     monthly_income=300_000)
    async with core.uow() as uow:
        statements = await _statements(uow, True, False)
    async with core.uow() as uow:
        part = await _assess_range(uow, statements, household, household, None)
        inside = (await uow.session.execute(
            text("SELECT current_setting('jit'), current_setting('plan_cache_mode')"))).one()
        await uow.commit()
    assert part.assessed == 1
    assert tuple(inside) == ("off", "force_custom_plan")
    async with core.uow() as uow:
        after = (await uow.session.execute(text("SELECT current_setting('plan_cache_mode')"))).one()
    assert tuple(after) == ("auto",)


async def test_a_family_with_a_member_born_after_today_is_counted_not_decided(core: Core) -> None:
    """A birth date after today is an error in the data: that family gets no decision and is
    counted as an error, and the families around it in the same range are decided as usual."""
    wrong, _ = await make_family(core, phone="+998901234581", children=(dt.date(2025, 1, 1),), monthly_income=300_000)
    right, _ = await make_family(core, phone="+998901234582", children=(dt.date(2025, 1, 1),), monthly_income=300_000)
    tomorrow = core.clock.today() + dt.timedelta(days=1)
    async with core.uow() as uow:
        await uow.session.execute(
            update(Person).where(Person.household_id == wrong, Person.relation == "child").values(birth_date=tomorrow))
        await uow.commit()
    summary = await assess_households(core, everything=True)
    assert (summary.assessed, summary.errors) == (1, 1)
    async with core.uow() as uow:
        decided = set((await uow.session.scalars(
            select(Decision.household_id).where(Decision.application_id.is_(None)))).all())
    assert decided == {right}


async def test_a_pass_looks_only_at_households_changed_since_the_last_finished_pass_began(core: Core, clock) -> None:
    """Each pass is recorded; the next one without --all looks only at households changed since the
    latest finished pass began (less five minutes for writes in flight). A pass that stopped half-way
    moves nothing: what changed before it is still looked at."""
    from core.services.assessment import households_due
    from core.storage.schema import AssessmentRun, Household

    async def changed(household: int) -> None:
        async with core.uow() as uow:
            await uow.session.execute(update(Household).where(Household.id == household)
                                      .values(data_changed_at=clock.now()))
            await uow.commit()

    wrong, _ = await make_family(core, phone="+998901234583", children=(dt.date(2025, 1, 1),), monthly_income=300_000)
    right, _ = await make_family(core, phone="+998901234584", children=(dt.date(2025, 1, 1),), monthly_income=300_000)
    async with core.uow() as uow:  # a birth date after today: this family cannot be decided on its data
        await uow.session.execute(update(Person).where(Person.household_id == wrong, Person.relation == "child")
                                  .values(birth_date=clock.today() + dt.timedelta(days=1)))
        await uow.commit()
    clock.advance(dt.timedelta(hours=1))
    first = await assess_households(core)
    assert (first.assessed, first.errors) == (1, 1)
    async with core.uow() as uow:
        [run] = (await uow.session.scalars(select(AssessmentRun))).all()
        assert (run.started_at is not None, run.finished_at is not None, run.everything) == (True, True, False)
        assert (run.assessed, run.eligible, run.errors) == (1, 1, 1)

    # An hour on, nothing changed since the first pass began: the undecidable family is not tried again.
    clock.advance(dt.timedelta(hours=1))
    assert await households_due(core) == 0
    second = await assess_households(core)
    assert (second.assessed, second.errors) == (0, 0)

    # A change after it is seen; so is one before a pass that never finished.
    clock.advance(dt.timedelta(minutes=30))
    await changed(right)
    async with core.uow() as uow:
        uow.session.add(AssessmentRun(started_at=clock.now() + dt.timedelta(minutes=30), everything=False))
        await uow.commit()
    clock.advance(dt.timedelta(hours=1))
    assert await households_due(core) == 1
    third = await assess_households(core)
    # Only the family that changed is looked at, as households_due counted: the undecidable family
    # beside it in the same range is not counted again until its own data changes.
    assert (third.assessed, third.errors) == (1, 0)
    async with core.uow() as uow:
        decided = list((await uow.session.scalars(select(Decision.household_id).where(
            Decision.application_id.is_(None)).order_by(Decision.id))).all())
    assert decided == [right, right]

    # --all looks at everyone, changed or not.
    assert (await assess_households(core, everything=True)).errors == 1


async def test_a_family_whose_period_runs_out_while_still_eligible_is_not_told_it_ended(core: Core, clock) -> None:
    """Still eligible in the last month of its period: a new enrolment follows from the next month,
    and when the old one expires the family is not told its assistance ended (it goes on). A family
    whose period runs out with nothing after it is told."""
    from core.services.applications import advance_enrolments

    renewed, head = await make_family(core, phone="+998901234571", children=(dt.date(2025, 1, 1),))
    lapsing, other = await make_family(core, phone="+998901234572", children=(dt.date(2025, 1, 1),))
    await ingest(core, wages(head, 400_000, "R") + wages(other, 400_000, "L"))
    await assess_households(core)
    clock.set(dt.date(2027, 6, 10))  # the last month of both periods (January to June)
    await ingest(core, [{"agency": "soliq", "item": "soliq.wage", "pinfl": other, "key": f"2027-0{m}/301234567",
                         "value": 9_000_000, "as_of": "2027-06-05", "record_id": f"L-2027-{m}"} for m in (3, 4, 5)])
    summary = await assess_households(core, everything=True)
    assert (summary.enrolled, summary.ending) == (1, 1)
    assert [(e.first_month, e.last_month) for e in await enrolments(core, renewed)] == [
        (dt.date(2027, 1, 1), dt.date(2027, 6, 1)), (dt.date(2027, 7, 1), dt.date(2027, 12, 1))]
    clock.set(dt.date(2027, 7, 10))
    assert await advance_enrolments(core) == (0, 2)
    assert await templates(core, renewed) == ["enrolment.started", "enrolment.started"]
    assert await templates(core, lapsing) == ["enrolment.started", "enrolment.ending", "enrolment.ended"]


async def test_a_pass_on_a_day_before_the_last_pass_is_refused_and_changes_nothing(core: Core, clock) -> None:
    """A clock set back (a mistyped SPSR_TODAY, a server's clock reset) would enrol families from a
    month already paid, end others from a month gone by and tell them so: the pass is refused."""
    from sqlalchemy import func

    from core.errors import Conflict
    from core.storage.schema import AssessmentRun

    household_id, head = await make_family(core, children=(dt.date(2025, 1, 1),))
    await ingest(core, wages(head, 400_000, "W"))
    await assess_households(core)
    clock.set(dt.date(2026, 11, 20))
    for everything in (False, True):
        with pytest.raises(Conflict) as err:
            await assess_households(core, everything=everything)
        assert (err.value.code, err.value.params) == (
            "assessment.clock_behind", {"today": "2026-11-20", "last": "2026-12-10"})
    async with core.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(AssessmentRun)) == 1
    assert len(await enrolments(core, household_id)) == 1
    clock.set(dt.date(2026, 12, 10))  # the same day again is fine
    assert (await assess_households(core, everything=True)).assessed == 1


async def test_spsr_assess_says_the_clock_is_behind(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from tests.cli import run_cli

    monkeypatch.setenv("SPSR_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'spsr.db'}")
    monkeypatch.setenv("SPSR_TODAY", "2026-12-10")
    assert (await asyncio.to_thread(run_cli, "assess", "--quiet"))[0] == 0
    monkeypatch.setenv("SPSR_TODAY", "2026-12-09")
    code, out, err = await asyncio.to_thread(run_cli, "assess", "--all", "--quiet")
    assert (code, out) == (2, "")
    assert err == ("spsr assess: refused: today is 2026-12-09, before the latest pass (2026-12-10); is SPSR_TODAY "
                   "or the server's clock set back? Nothing was assessed (assessment.clock_behind)\n")


async def test_a_batch_committing_while_a_pass_decides_its_family_is_not_lost(core: Core, clock) -> None:
    """A batch stamps its households changed inside its transaction; a pass deciding one of them
    before the batch commits read the old data. The pass must wait for the batch, or the family
    must stay due: never a decision on old data that looks newer than the batch."""
    import asyncio

    household_id, head = await make_family(core, children=(dt.date(2025, 1, 1),))
    await ingest(core, wages(head, 400_000, "OLD"))
    await assess_households(core)
    clock.advance(dt.timedelta(seconds=1))
    await ingest(core, wages(head, 9_000_000, "MID"))  # due again
    clock.advance(dt.timedelta(seconds=1))
    async with core.uow(write=True) as uow:  # an agency's batch, in flight
        await ingest(uow, wages(head, 100_000, "NEW", as_of="2026-12-06"))
        passing = asyncio.create_task(assess_households(core))
        await asyncio.sleep(0.5)
        await uow.commit()
    await passing
    await assess_households(core)
    async with core.uow() as uow:
        latest = await uow.session.scalar(select(Decision).where(Decision.household_id == household_id)
                                          .order_by(Decision.id.desc()).limit(1))
        assert latest is not None
        rested_on = {source["record_id"] for source in (await provenance_of(uow, [latest]))[latest.id].values()}
    assert {"NEW-09", "NEW-10", "NEW-11"} <= rested_on, rested_on


async def test_a_death_the_civil_registry_reports_takes_the_member_out_of_the_family(core: Core, clock) -> None:
    """Kept and applied to nothing, a death left the dead dividing the family's income; now the
    family is assessed on its living members, by the bulk pass and an application alike."""
    household_id, head = await make_family(core)  # a couple
    await ingest(core, wages(head, 1_200_000, "W"))
    first = await assess_households(core)
    assert (first.assessed, first.eligible) == (1, 1)  # 1,200,000 a month over 2 members: 600,000 each
    async with core.uow() as uow:
        spouse = await uow.session.scalar(select(Person).where(Person.household_id == household_id,
                                                               Person.pinfl != head, Person.relation == "spouse"))
        assert spouse is not None
        spouse_id, spouse_pinfl = spouse.id, spouse.pinfl
    clock.advance(dt.timedelta(hours=1))
    result = await ingest(core, [{"agency": "fhdyo", "item": "fhdyo.death", "pinfl": spouse_pinfl,
                                  "value": "2026-12-07", "as_of": "2026-12-08", "record_id": "D-1"}])
    assert result.accepted == 1
    second = await assess_households(core)
    assert (second.assessed, second.eligible, second.ending) == (1, 0, 1)  # 1,200,000 for one
    async with core.uow() as uow:
        latest = await uow.session.scalar(select(Decision).where(Decision.household_id == household_id)
                                          .order_by(Decision.id.desc()).limit(1))
        assert latest is not None and (latest.members, latest.income_per_member) == (1, 1_200_000)
        assert await uow.session.scalar(select(Person.died_on).where(Person.id == spouse_id)) == dt.date(2026, 12, 7)
        facts = await household_facts(uow.session, household_id, dt.date(2026, 12, 10))
        assert len(facts.members) == 1
        assert len((await household_facts(uow.session, household_id, dt.date(2026, 12, 6))).members) == 2


async def test_a_family_no_living_member_is_left_of_is_paid_this_month_and_no_more(core: Core, clock) -> None:
    household_id, head = await make_family(core, spouse=False, head_birth=dt.date(1950, 3, 14))
    assert (await assess_households(core)).enrolled == 1
    clock.set(dt.date(2027, 2, 10))
    await ingest(core, [{"agency": "fhdyo", "item": "fhdyo.death", "pinfl": head, "value": "2027-02-03",
                         "as_of": "2027-02-04", "record_id": "D-2"}])
    summary = await assess_households(core)
    assert (summary.assessed, summary.errors, summary.ending, summary.notices) == (0, 1, 1, 0)
    [enrolment] = await enrolments(core, household_id)
    assert (enrolment.state, enrolment.last_month, enrolment.ended_on) == (
        "active", dt.date(2027, 2, 1), dt.date(2027, 2, 28))
    assert await templates(core, household_id) == ["enrolment.started"]  # no one is left to tell
