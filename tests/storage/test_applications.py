"""Applications end to end on the storage: submit once, decide on the day, enrol, expire."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.services.applications import SubmitApplication, decide_due, find_application, submit_application
from core.services.messages import render
from core.storage.schema import Application, AuditEntry, Decision, Enrolment, OutboxMessage, Person
from core.storage.uow import Core
from tests.storage.factories import CITIZEN, count, make_family, pinfl_for

pytestmark = pytest.mark.postgres


async def submit(core: Core, pinfl: str, key: str | None = None, **kw: object):
    async with core.uow() as uow:
        view = await submit_application(uow, SubmitApplication(pinfl=pinfl, channel="ussd", language="uz",
                                                               idempotency_key=key, **kw), CITIZEN)
        await uow.commit()
    return view


async def test_a_poor_family_with_four_children_is_approved_at_745000(core: Core, clock) -> None:
    # 2026-12-10: in by the 16th, decided in December, paid from January.
    kids = (dt.date(2025, 6, 1), dt.date(2021, 5, 1), dt.date(2018, 5, 1), dt.date(2014, 5, 1))
    household_id, head = await make_family(core, children=kids, monthly_income=1_200_000)
    view = await submit(core, head, key="ussd:abc:1")
    assert view.state == "submitted" and view.decision_month == dt.date(2026, 12, 1)
    assert view.notice_by == dt.date(2027, 1, 1)

    summary = await decide_due(core)
    assert (summary.approved, summary.rejected) == (1, 0)
    async with core.uow() as uow:
        decided = await find_application(uow, view.number)
    assert decided.state == "approved"
    assert decided.decision is not None and decided.decision.eligible
    assert decided.decision.category == "poor"
    assert decided.decision.monthly_amount == 745_000
    assert decided.first_month == dt.date(2027, 1, 1)
    assert decided.decision.income_per_member == 1_200_000 * 3 // 6 // 3

    clock.set(dt.date(2027, 1, 2))
    summary = await decide_due(core)
    assert summary.enrolled == 1
    async with core.uow() as uow:
        assert (await find_application(uow, view.number)).state == "enrolled"
        actions = (await uow.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert ["application.submitted", "application.verifying", "application.verified",
            "application.approved", "application.enrolled"] == [a for a in actions if a.startswith("application.")]


async def test_a_repeated_request_is_recorded_once(core: Core) -> None:
    _, head = await make_family(core, children=(dt.date(2024, 1, 1),))
    first = await submit(core, head, key="ussd:S1:1*1")
    again = await submit(core, head, key="ussd:S1:1*1")
    assert first.number == again.number
    assert await count(core, Application) == 1
    assert await count(core, OutboxMessage) == 1


async def test_one_application_per_family_per_month(core: Core, clock) -> None:
    _, head = await make_family(core, children=(dt.date(2024, 1, 1),))
    await submit(core, head)
    with pytest.raises(Conflict) as err:
        await submit(core, head)
    assert err.value.code == "application.duplicate_month"
    assert await count(core, Application) == 1


async def test_after_the_16th_the_decision_waits_for_next_month(core: Core, clock) -> None:
    clock.set(dt.date(2026, 12, 17))
    _, head = await make_family(core, children=(dt.date(2024, 1, 1),), monthly_income=500_000)
    view = await submit(core, head)
    assert view.decision_month == dt.date(2027, 1, 1)
    summary = await decide_due(core)
    assert summary.decided == 0 and summary.verified == 1
    clock.set(dt.date(2027, 1, 5))
    assert (await decide_due(core)).approved == 1


async def test_an_excluded_family_is_rejected_with_its_reason(core: Core) -> None:
    from core.storage.schema import Vehicle

    household_id, head = await make_family(core, children=(dt.date(2020, 1, 1),), monthly_income=300_000)
    async with core.uow() as uow:
        uow.session.add(Vehicle(household_id=household_id, year=2023, roadworthy=True, kind="car"))
        await uow.commit()
    view = await submit(core, head)
    await decide_due(core)
    async with core.uow() as uow:
        decided = await find_application(uow, view.number)
        assert await uow.session.scalar(select(Enrolment.id)) is None
        reasons = (await uow.session.scalars(select(Decision.reasons))).one()
    assert decided.state == "rejected"
    assert "exclusion.new_car" in [r["code"] for r in reasons]
    templates = await _templates(core)
    assert "application.rejected" in templates


async def test_a_rich_family_is_rejected_above_the_threshold(core: Core) -> None:
    _, head = await make_family(core, children=(dt.date(2020, 1, 1),), monthly_income=9_000_000)
    view = await submit(core, head)
    await decide_due(core)
    async with core.uow() as uow:
        decided = await find_application(uow, view.number)
    assert decided.state == "rejected"
    assert decided.decision is not None
    assert "income.above_threshold" in [r.code for r in decided.decision.reasons]


async def test_a_declared_birth_waits_for_the_civil_registry(core: Core) -> None:
    _, head = await make_family(core, children=(dt.date(2019, 1, 1),), monthly_income=300_000)
    view = await submit(core, head, declared_changes=("child_born",))
    summary = await decide_due(core)
    assert summary.awaiting == 1 and summary.decided == 0
    async with core.uow() as uow:
        assert (await find_application(uow, view.number)).state == "verifying"


async def test_only_the_household_phone_sees_an_application(core: Core) -> None:
    _, head = await make_family(core, phone="+998901234567", children=(dt.date(2024, 1, 1),))
    view = await submit(core, head)
    async with core.uow() as uow:
        assert (await find_application(uow, view.number, phone="+998901234567")).number == view.number
        with pytest.raises(Forbidden):
            await find_application(uow, view.number, phone="+998935554433")


async def test_bad_input_is_refused_with_reason_codes(core: Core) -> None:
    _, head = await make_family(core)
    bad = head[:-1] + str((int(head[-1]) + 1) % 10)
    with pytest.raises(InvalidInput) as err:
        await submit(core, bad)
    assert err.value.code == "pinfl.check_digit"
    with pytest.raises(NotFound):
        await submit(core, "31210632040244")
    with pytest.raises(InvalidInput) as err:
        await submit(core, head, declared_changes=("won_lottery",))
    assert err.value.code == "application.unknown_change"
    with pytest.raises(Forbidden):
        await submit(core, head, phone="+998935554433")
    assert await count(core, Application) == 0
    async with core.uow() as uow:
        with pytest.raises(InvalidInput):
            await find_application(uow, "123-456-780")


async def _templates(core: Core) -> list[str]:
    async with core.uow() as uow:
        return list((await uow.session.scalars(select(OutboxMessage.template))).all())


async def test_an_application_decision_names_the_agency_whose_data_decided_it(core: Core) -> None:
    from core.services.exchange import ingest

    _, head = await make_family(core, children=(dt.date(2025, 1, 1),))
    await ingest(core, [{"agency": "soliq", "item": "soliq.wage", "pinfl": head, "key": f"2026-{m}/301234567",
                         "value": 400_000, "unit": "UZS", "as_of": "2026-12-05", "record_id": f"W-{m}"}
                        for m in ("09", "10", "11")])
    view = await submit(core, head)
    await decide_due(core)
    async with core.uow() as uow:
        app = await uow.session.scalar(select(Application).where(Application.number == view.number))
        assert app is not None and app.decision_id is not None
        decision = await uow.session.get(Decision, app.decision_id)
        assert decision is not None and decision.inputs["trigger"] == "application"
        source = decision.inputs["provenance"][f"{head}:soliq.wage|2026-11/301234567"]
    assert (source["agency"], source["record_id"], source["as_of"]) == ("soliq", "W-11", "2026-12-05")


async def test_a_family_enrolled_by_automatic_assignment_meanwhile_is_not_enrolled_twice(core: Core, clock) -> None:
    """An application waits for its decision month; agency data may enrol the family before then.
    The application is then decided on its own date, but the family keeps the one enrolment."""
    from core.services.assessment import assess_households

    clock.set(dt.date(2026, 12, 17))
    household_id, head = await make_family(core, children=(dt.date(2024, 1, 1),), monthly_income=500_000)
    view = await submit(core, head)
    assert (await assess_households(core)).enrolled == 1
    clock.set(dt.date(2027, 1, 5))
    summary = await decide_due(core)
    assert summary.decided == 1
    async with core.uow() as uow:
        decided = await find_application(uow, view.number)
        own = await uow.session.scalar(select(Application.decision_id).where(Application.number == view.number))
        active = (await uow.session.execute(select(Enrolment.first_month, Enrolment.last_month, Enrolment.decision_id)
                                            .where(Enrolment.household_id == household_id,
                                                   Enrolment.state == "active"))).all()
    assert decided.decision is not None and own is not None
    assert [(first, last, decision == own) for first, last, decision in active] == [
        (dt.date(2027, 1, 1), dt.date(2027, 6, 1), False)]
    assert decided.state == "enrolled" and decided.decision.eligible
    assert (decided.first_month, decided.last_month) == (dt.date(2027, 1, 1), dt.date(2027, 6, 1))
    async with core.uow() as uow:
        told = await uow.session.scalar(select(OutboxMessage).where(
            OutboxMessage.template == "application.already_enrolled"))
        assert told is not None
        text = render(told.template, told.params, "ru")
    assert "30 июня 2027 г. включительно" in text and view.number[:3] in text and "{" not in text

    # The family's enrolment ends: so does the application that found it already enrolled.
    clock.set(dt.date(2027, 7, 2))
    await decide_due(core)
    async with core.uow() as uow:
        assert (await find_application(uow, view.number)).state == "expired"


async def test_a_decision_run_waits_for_an_assessment_pass_enrolling_families(core: Core, clock) -> None:
    """Both enrol families after checking they have no enrolment: never both at once."""
    import asyncio

    from core.storage.locks import ENROLMENT, Busy, exclusive

    _, head = await make_family(core, children=(dt.date(2024, 1, 1),), monthly_income=500_000)
    await submit(core, head)
    waited: list[bool] = []
    async with exclusive(core.engine, ENROLMENT):
        with pytest.raises(Busy):
            await decide_due(core, wait=False)
        run = asyncio.ensure_future(decide_due(core, on_wait=lambda: waited.append(True)))
        await asyncio.sleep(0.5)
        assert waited == [True] and not run.done()
    assert (await run).approved == 1


async def test_a_child_born_after_the_application_does_not_stop_its_decision(core: Core, clock) -> None:
    """Judged as the family stood on the day it applied: a baby born and registered since was no
    member then. The rules refused a member born after the day, and the decision failed every run."""
    household_id, head = await make_family(core, children=(dt.date(2020, 5, 1),), monthly_income=400_000)
    view = await submit(core, head)
    clock.set(dt.date(2026, 12, 14))
    async with core.uow() as uow:
        uow.session.add(Person(pinfl=pinfl_for(dt.date(2026, 12, 12), "f"), household_id=household_id,
                               relation="child", surname="Karimova", given_name="Malika", patronymic=None,
                               birth_date=dt.date(2026, 12, 12), sex="f", disability=None, service_body=None,
                               passport=None))
        await uow.commit()
    summary = await decide_due(core)
    assert (summary.approved, summary.errors) == (1, [])
    async with core.uow() as uow:
        decided = await find_application(uow, view.number)
    assert decided.decision is not None and decided.decision.members == 3  # the baby not among them
