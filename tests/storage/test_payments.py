"""Payroll freezing and "when is my next payment" from frozen lines only."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from core.errors import Conflict, InvalidInput
from core.flows.citizen import payment_text
from core.i18n import use_locale
from core.services.applications import SubmitApplication, decide_due, submit_application
from core.services.payments import PaymentView, approve_payroll, next_payment, open_payroll
from core.storage.schema import Enrolment, PaymentCycle
from core.storage.uow import Actor, Core
from tests.storage.factories import CITIZEN, STAFF, make_family

pytestmark = pytest.mark.postgres

CHECKER = Actor("staff", "jasur.toshmatov", "web")


async def enrolled_family(core: Core, *, phone: str = "+998901234567",
                          children: tuple[dt.date, ...] = (dt.date(2025, 1, 1),)) -> int:
    """A family that applied and was approved (its enrolment made by the day's decisions)."""
    household_id, head = await make_family(core, phone=phone, children=children, monthly_income=400_000)
    async with core.uow() as uow:
        await submit_application(uow, SubmitApplication(pinfl=head, channel="sms", language="uz"), CITIZEN)
        await uow.commit()
    assert (await decide_due(core)).approved == 1
    return household_id


async def test_next_payment_comes_from_the_frozen_payroll_else_from_the_enrolment(core: Core, clock) -> None:
    household_id = await enrolled_family(core)
    async with core.uow() as uow:
        # January's payroll is not frozen yet: what the enrolment leads the family to expect.
        expected = await next_payment(uow, household_id)
    assert expected == PaymentView(dt.date(2027, 1, 1), "child_benefit", 360_000, dt.date(2027, 1, 4),
                                   dt.date(2027, 1, 27), "expected", None)
    with use_locale("ru"):
        text = payment_text({"payment": {"amount": 360_000, "window_start": "2027-01-04",
                                         "window_end": "2027-01-27", "status": "expected"}})
    assert "ожидается, ещё не включено в ведомость" in text, text

    cycle = await open_payroll(core, dt.date(2027, 1, 1), STAFF)
    assert cycle.line_count == 1 and cycle.total_amount == 360_000
    assert (cycle.window_start, cycle.window_end) == (dt.date(2027, 1, 4), dt.date(2027, 1, 27))

    # The live registry changes after freezing; the answer does not.
    async with core.uow() as uow:
        await uow.session.execute(update(Enrolment).values(amount=1))
        await uow.commit()
    async with core.uow() as uow:
        payment = await next_payment(uow, household_id)
    assert payment is not None
    assert (payment.month, payment.amount, payment.status) == (dt.date(2027, 1, 1), 360_000, "scheduled")


async def test_a_family_enrolled_after_its_first_month_was_frozen_expects_that_month_or_the_next(
        core: Core, clock) -> None:
    first = await enrolled_family(core)
    await open_payroll(core, dt.date(2027, 1, 1), STAFF)  # frozen before the others are enrolled

    async def enrol(phone: str) -> tuple[int, Enrolment]:
        household_id = await enrolled_family(core, phone=phone, children=(dt.date(2020, 1, 1),))
        async with core.uow() as uow:
            [enrolment] = (await uow.session.scalars(select(Enrolment).where(
                Enrolment.household_id == household_id))).all()
            uow.session.expunge(enrolment)
        return household_id, enrolment

    async def expected(household_id: int) -> tuple[dt.date, str, int] | None:
        async with core.uow() as uow:
            pay = await next_payment(uow, household_id)
        return None if pay is None else (pay.month, pay.status, pay.amount)

    # Frozen, not approved: January is regenerated to pay the family before it can be approved.
    second, enrolment = await enrol("+998901112233")
    assert enrolment.first_month == dt.date(2027, 1, 1)
    assert await expected(second) == (dt.date(2027, 1, 1), "expected", enrolment.amount)
    assert await expected(first) == (dt.date(2027, 1, 1), "scheduled", 360_000)
    with pytest.raises(Conflict) as stale:
        await approve_payroll(core, dt.date(2027, 1, 1), CHECKER)
    assert stale.value.code == "payroll.stale"
    await open_payroll(core, dt.date(2027, 1, 1), STAFF, regenerate=True)
    await approve_payroll(core, dt.date(2027, 1, 1), CHECKER)
    assert await expected(second) == (dt.date(2027, 1, 1), "scheduled", enrolment.amount)
    # Approved: a family enrolled now is paid from February, and expects February.
    third, later = await enrol("+998901112244")
    assert later.first_month == dt.date(2027, 2, 1)
    assert await expected(third) == (dt.date(2027, 2, 1), "expected", later.amount)
    # An enrolment ended early (moved to 'ended') leads to expect nothing.
    async with core.uow() as uow:
        await uow.session.execute(update(Enrolment).where(Enrolment.household_id == third).values(state="ended"))
        await uow.commit()
    assert await expected(third) is None


async def test_a_payroll_is_opened_once_and_regenerated_only_before_approval(core: Core) -> None:
    await enrolled_family(core)
    await open_payroll(core, dt.date(2027, 1, 1), STAFF)
    with pytest.raises(Conflict) as err:
        await open_payroll(core, dt.date(2027, 1, 1), STAFF)
    assert err.value.code == "payroll.already_open"
    again = await open_payroll(core, dt.date(2027, 1, 1), STAFF, regenerate=True)
    assert again.line_count == 1


async def test_a_month_outside_any_enrolment_has_no_payroll(core: Core) -> None:
    """Opening it is refused, not frozen empty: an empty payroll would look like a month paid."""
    await enrolled_family(core)
    for month in (dt.date(2026, 12, 1), dt.date(2025, 1, 1)):
        with pytest.raises(Conflict) as err:
            await open_payroll(core, month, STAFF)
        assert (err.value.code, err.value.params) == ("payroll.empty", {"month": month.isoformat()})
    with pytest.raises(InvalidInput) as bad:
        await open_payroll(core, dt.date(2021, 12, 1), STAFF)  # before any payment window
    assert (bad.value.code, bad.value.params) == ("payroll.no_window", {"month": "2021-12-01", "first": "2022-01-01"})
    async with core.uow() as uow:
        assert (await uow.session.scalars(select(PaymentCycle))).all() == []


async def test_a_payroll_is_not_frozen_before_the_month_ahead(core: Core, clock) -> None:
    """Each assessment and each month's decisions enrol families from the next month: a payroll
    frozen further ahead would leave out everyone enrolled meanwhile, and once approved for good.
    Next month's may be opened (the bank needs its file before the 4th); later ones are refused."""
    await enrolled_family(core)
    for month in (dt.date(2027, 2, 1), dt.date(2027, 9, 1), dt.date(2030, 1, 1)):
        with pytest.raises(InvalidInput) as err:
            await open_payroll(core, month, STAFF)
        assert (err.value.code, err.value.params) == (
            "payroll.too_early", {"month": month.isoformat(), "opens": (month - dt.timedelta(days=1)).replace(
                day=1).isoformat()})
    assert (await open_payroll(core, dt.date(2027, 1, 1), STAFF)).line_count == 1
    clock.set(dt.date(2027, 1, 2))
    assert (await open_payroll(core, dt.date(2027, 2, 1), STAFF)).line_count == 1
    async with core.uow() as uow:
        assert [c.month for c in (await uow.session.scalars(select(PaymentCycle).order_by(PaymentCycle.month)))] == [
            dt.date(2027, 1, 1), dt.date(2027, 2, 1)]


async def test_an_application_decided_after_next_months_payroll_was_approved_is_paid_from_the_month_after(
        core: Core) -> None:
    """January's payroll approved in December holds no family decided after it: enrolled from
    January, that family would never be paid for it. It is enrolled, and told, from February."""
    from core.storage.schema import OutboxMessage

    await enrolled_family(core)
    await open_payroll(core, dt.date(2027, 1, 1), STAFF)
    await approve_payroll(core, dt.date(2027, 1, 1), CITIZEN)
    household_id = await enrolled_family(core, phone="+998911234567")
    async with core.uow() as uow:
        period = (await uow.session.execute(select(Enrolment.first_month, Enrolment.last_month).where(
            Enrolment.household_id == household_id))).all()
        told = await uow.session.scalar(select(OutboxMessage.params).where(
            OutboxMessage.household_id == household_id, OutboxMessage.template == "application.approved"))
    assert period == [(dt.date(2027, 2, 1), dt.date(2027, 7, 1))]
    assert told is not None and str(told["first_month"])[:10] == "2027-02-01"


async def test_a_head_reported_dead_is_no_longer_the_payee_the_spouse_is(core: Core, clock) -> None:
    """The bank file names the family's head as its payee. A head the civil registry reports dead is
    replaced by the spouse (as when a head moves out), and the family's own view shows them."""
    import io

    from core.services.exchange import ingest
    from core.services.payments import export_payroll
    from core.services.registry import household_view
    from core.storage.schema import Household, Person

    household_id = await enrolled_family(core)
    async with core.uow() as uow:
        head, spouse = (await uow.session.execute(
            select(Person.pinfl, Person.id).where(Person.household_id == household_id,
                                                  Person.relation.in_(("head", "spouse")))
            .order_by(Person.relation))).all()
    result = await ingest(core, [{"agency": "fhdyo", "item": "fhdyo.death", "pinfl": head.pinfl, "value": "2026-12-03",
                                  "as_of": "2026-12-04", "record_id": "D-1"}])
    assert result.accepted == 1
    async with core.uow() as uow:
        assert await uow.session.scalar(select(Household.head_person_id).where(Household.id == household_id)) \
            == spouse.id
        view = await household_view(uow.session, household_id)
        assert view.head is not None and view.head.person_id == spouse.id
    await open_payroll(core, dt.date(2027, 1, 1), STAFF)
    await approve_payroll(core, dt.date(2027, 1, 1), Actor("staff", "checker", "cli"))
    out = io.StringIO()
    assert await export_payroll(core, dt.date(2027, 1, 1), out, STAFF) == 1
    [line] = out.getvalue().splitlines()[1:]
    assert line.split(",")[1] == spouse.pinfl
