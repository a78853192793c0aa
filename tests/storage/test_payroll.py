"""Payroll: frozen once, approved by a second person, exported to the bank, reconciled, families told."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select, update

from core.errors import Conflict, InvalidInput, NotFound
from core.services.assessment import assess_households
from core.services.exchange import ingest
from core.services.payments import (
    RESULT_TEXT_LIMIT,
    approve_payroll,
    cycle,
    export_payroll,
    iter_results,
    open_payroll,
    read_results,
    reconcile_payroll,
)
from core.storage.schema import AuditEntry, Enrolment, OutboxMessage, PaymentCycle, PayrollLine
from core.storage.uow import Actor, Core
from tests.storage.factories import make_family

pytestmark = pytest.mark.postgres

MAKER = Actor("staff", "dilnoza.karimova", "cli")
CHECKER = Actor("staff", "jasur.toshmatov", "cli")
JANUARY = dt.date(2027, 1, 1)


async def two_enrolled_families(core: Core) -> list[str]:
    heads = []
    for phone in ("+998901234567", "+998911234567"):
        _, head = await make_family(core, phone=phone, children=(dt.date(2025, 1, 1),), monthly_income=300_000)
        heads.append(head)
    await assess_households(core)
    return heads


async def exported_january(core: Core) -> tuple[str, str]:
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    await approve_payroll(core, JANUARY, CHECKER)
    out = io.StringIO()
    await export_payroll(core, JANUARY, out, CHECKER)
    first, second = (line.split(",")[0] for line in out.getvalue().splitlines()[1:])
    return first, second


async def test_freeze_approve_export_and_reconcile(core: Core) -> None:
    heads = await two_enrolled_families(core)
    frozen = await open_payroll(core, JANUARY, MAKER)
    assert (frozen.state, frozen.line_count, frozen.total_amount) == ("frozen", 2, 720_000)
    # Lines carry no checked keys (see PayrollLine); each still pays its own enrolment.
    async with core.uow() as uow:
        pairs = (await uow.session.execute(
            select(PayrollLine.household_id, Enrolment.household_id, PaymentCycle.month)
            .join(Enrolment, Enrolment.id == PayrollLine.enrolment_id)
            .join(PaymentCycle, PaymentCycle.month == PayrollLine.cycle_month))).all()
    assert len(pairs) == 2 and all(line == enrolled for line, enrolled, _ in pairs)

    # Frozen: a later change to the enrolment does not move the payroll.
    async with core.uow() as uow:
        await uow.session.execute(update(Enrolment).values(amount=1))
        await uow.commit()
    async with core.uow() as uow:
        assert (await cycle(uow, JANUARY)).total_amount == 720_000

    with pytest.raises(Conflict) as err:
        await open_payroll(core, JANUARY, MAKER)
    assert err.value.code == "payroll.already_open"
    with pytest.raises(Conflict) as err:
        await export_payroll(core, JANUARY, io.StringIO(), CHECKER)
    assert err.value.code == "payroll.not_approved"
    with pytest.raises(Conflict) as err:
        await approve_payroll(core, JANUARY, MAKER)
    assert err.value.code == "payroll.same_person"
    approved = await approve_payroll(core, JANUARY, CHECKER)
    assert (approved.state, approved.approved_by) == ("approved", CHECKER.id)
    with pytest.raises(Conflict) as err:
        await open_payroll(core, JANUARY, MAKER, regenerate=True)
    assert err.value.code == "payroll.already_approved"

    out = io.StringIO()
    assert await export_payroll(core, JANUARY, out, CHECKER) == 2
    lines = out.getvalue().splitlines()
    assert lines[0] == "line_id,pinfl,account,amount,window_start,window_end"
    assert {line.split(",")[1] for line in lines[1:]} == set(heads)
    assert lines[1].endswith(",360000,2027-01-04,2027-01-27")
    first, second = (line.split(",")[0] for line in lines[1:])

    bank = (f"line_id,status,amount,reason,bank_reference\n{first},paid,360000,,XB-1\n"
            f"{second},failed,360000,card_blocked,XB-2\n999999,paid,360000,,XB-3\n{first},paid,360000,,XB-1\n"
            f"{second},weird,360000,,\n")
    result = await reconcile_payroll(core, read_results(bank), CHECKER)
    assert (result.paid, result.failed, result.notices) == (1, 1, 2)
    assert [(i, code) for i, code, _ in result.rejected] == [
        (2, "payroll.unknown_line"), (3, "payroll.duplicate_line"), (4, "payroll.bad_result")]
    async with core.uow() as uow:
        statuses = dict((await uow.session.execute(
            select(PayrollLine.id, PayrollLine.status))).all())
        assert sorted(statuses.values()) == ["failed", "paid"]
        assert (await cycle(uow, JANUARY)).state == "reconciled"
        templates = (await uow.session.scalars(select(OutboxMessage.template).where(
            OutboxMessage.template.like("payment.%")).order_by(OutboxMessage.template))).all()
        assert templates == ["payment.failed", "payment.paid"]

    again = await reconcile_payroll(core, read_results(bank.splitlines()[0] + "\n" + bank.splitlines()[1]), CHECKER)
    assert (again.paid, again.unchanged, again.notices) == (0, 1, 0)


async def test_an_amount_that_does_not_match_is_refused_and_nothing_else_moves(core: Core) -> None:
    line_id, _ = await exported_january(core)
    result = await reconcile_payroll(core, read_results(
        f"line_id,status,amount,reason,bank_reference\n{line_id},paid,999,,X\n"), CHECKER)
    assert (result.paid, [c for _, c, _ in result.rejected]) == (0, ["payroll.amount_mismatch"])
    async with core.uow() as uow:
        assert set((await uow.session.scalars(select(PayrollLine.status))).all()) == {"sent"}
        assert (await cycle(uow, JANUARY)).state == "approved"


async def test_regenerating_before_approval_picks_up_new_enrolments(core: Core, clock) -> None:
    heads = await two_enrolled_families(core)
    assert (await open_payroll(core, JANUARY, MAKER)).line_count == 2
    clock.advance(dt.timedelta(hours=1))
    await ingest(core, [{"agency": "soliq", "item": "soliq.wage", "pinfl": heads[0], "key": f"2026-{m}/301234567",
                         "value": 50_000_000, "as_of": "2026-12-09", "record_id": f"R{m}"} for m in ("09", "10", "11")])
    await assess_households(core)
    # Ending at the end of its period: still paid in January.
    assert (await open_payroll(core, JANUARY, MAKER, regenerate=True)).line_count == 2


async def test_a_national_bank_file_streams_through_in_batches(core: Core) -> None:
    """Lines are read one at a time and judged together in SQL; a line twice is refused even when
    the two copies fall in different batches; refusals are all counted, the first ones listed."""
    first, second = await exported_january(core)

    def bank_file():  # a generator, as an open file would be
        yield "line_id,status,amount,reason,bank_reference\n"
        yield f"{first},paid,360000,,XB-1\n"
        for k in range(24_998):
            yield f"{10_000_000 + k},paid,360000,,XU-{k}\n"
        yield f"{second},failed,360000,account_closed,XB-2\n"
        yield f"{first},paid,360000,,XB-1\n"

    result = await reconcile_payroll(core, iter_results(bank_file()), CHECKER)
    assert (result.paid, result.failed, result.notices, result.refused) == (1, 1, 2, 24_999)
    assert len(result.rejected) == 10_000 and result.rejected[0][1] == "payroll.unknown_line"
    async with core.uow() as uow:
        reasons = dict((await uow.session.execute(select(PayrollLine.status, PayrollLine.failure_reason))).all())
    assert reasons == {"paid": None, "failed": "account_closed"}


async def test_an_indexation_reaches_running_enrolments_from_the_month_it_takes_effect(core: Core, clock) -> None:
    """Enrolled at the July 2025 rates (360,000 for one child under 3); a decree raises them from
    February 2027: January is paid at the old rate, February at the new one."""
    import dataclasses

    from core.rates import RateBook

    await two_enrolled_families(core)
    data = RateBook.shipped_data()
    rows = data["tables"]["child_benefit"]["rows"]
    rows.append({"effective_from": "2027-02-01", "value": {**rows[-1]["value"], "first_under_3": 396_000}})
    indexed = dataclasses.replace(core, book=RateBook.from_dict(data))
    assert (await open_payroll(indexed, JANUARY, MAKER)).total_amount == 2 * 360_000
    clock.set(dt.date(2027, 1, 10))  # February's payroll opens from January on
    february = await open_payroll(indexed, dt.date(2027, 2, 1), MAKER)
    assert (february.line_count, february.total_amount) == (2, 2 * 396_000)
    async with core.uow() as uow:
        enrolled = (await uow.session.execute(
            select(Enrolment.amount, Enrolment.children, Enrolment.infant, Enrolment.share_percent))).all()
    assert enrolled == [(360_000, 1, True, 100)] * 2  # the decision's figure stays as the family was told


@pytest.mark.parametrize("checker", [
    "Dilnoza.Karimova", "dilnoza.karimova ", " DILNOZA.KARIMOVA\t", "dilnoza.karimova\u200b",
    "\u200bdilnoza.karimova", "dilnoza\u00ad.karimova", "dilnoza.kari\u2060mova", "\u200edilnoza.karimova\u200f",
    "ｄｉｌｎｏｚａ.karimova", "dilnoza.\ufeffkarimova", "dilnoza.karimova\u00a0", "dilnoza\x07.karimova"])
async def test_the_maker_cannot_approve_under_another_spelling_of_her_name(core: Core, checker: str) -> None:
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    with pytest.raises(Conflict) as err:
        await approve_payroll(core, JANUARY, Actor("staff", checker, "cli"))
    assert err.value.code == "payroll.same_person"
    async with core.uow() as uow:
        assert (await cycle(uow, JANUARY)).state == "frozen"


@pytest.mark.parametrize("nobody", ["", " ", "\t", "\u200b", " \u2060\u00a0\u200d", "\x00"])
async def test_an_actor_without_a_name_is_refused(core: Core, nobody: str) -> None:
    await two_enrolled_families(core)
    with pytest.raises(InvalidInput) as err:
        await open_payroll(core, JANUARY, Actor("staff", nobody, "cli"))
    assert err.value.code == "payroll.actor_required"
    await open_payroll(core, JANUARY, MAKER)
    with pytest.raises(InvalidInput) as err:
        await approve_payroll(core, JANUARY, Actor("staff", nobody, "cli"))
    assert err.value.code == "payroll.actor_required"
    approved = await approve_payroll(core, JANUARY, Actor("staff", " jasur.toshmatov\u200b ", "cli"))
    assert approved.approved_by == "jasur.toshmatov"  # recorded without the stray spaces, invisible or not
    async with core.uow() as uow:
        audited = await uow.session.scalar(select(AuditEntry.actor_id).where(AuditEntry.action == "payroll.approved"))
    assert audited == "jasur.toshmatov"


async def test_a_name_longer_than_its_column_is_refused(core: Core) -> None:
    await two_enrolled_families(core)
    with pytest.raises(InvalidInput) as err:
        await open_payroll(core, JANUARY, Actor("staff", "d" * 81, "cli"))
    assert (err.value.code, err.value.params) == ("payroll.actor_too_long", {"limit": 80})
    assert (await open_payroll(core, JANUARY, Actor("staff", "d" * 80 + "\u200b", "cli"))).opened_by == "d" * 80


async def test_a_month_never_opened_is_not_regenerated(core: Core) -> None:
    await two_enrolled_families(core)
    with pytest.raises(NotFound) as err:
        await open_payroll(core, JANUARY, MAKER, regenerate=True)
    assert (err.value.code, err.value.params) == ("payroll.nothing_to_regenerate", {"month": "2027-01-01"})
    async with core.uow() as uow:
        assert await uow.session.get(PaymentCycle, JANUARY) is None
        assert await uow.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == "payroll")) == 0
    assert (await open_payroll(core, JANUARY, MAKER)).line_count == 2


async def test_a_payroll_with_lines_at_the_bank_is_never_regenerated(core: Core) -> None:
    """A frozen payroll whose lines were sent or paid (as an old seed left December) keeps them:
    replacing them with scheduled lines would pay the families twice."""
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    async with core.uow() as uow:
        first = await uow.session.scalar(select(func.min(PayrollLine.id)))
        await uow.session.execute(update(PayrollLine).where(PayrollLine.id == first).values(status="paid"))
        await uow.commit()
    with pytest.raises(Conflict) as err:
        await open_payroll(core, JANUARY, MAKER, regenerate=True)
    assert (err.value.code, err.value.params) == ("payroll.lines_in_payment", {"month": "2027-01-01", "lines": 1})
    async with core.uow() as uow:
        assert sorted((await uow.session.scalars(select(PayrollLine.status))).all()) == ["paid", "scheduled"]


async def test_bank_results_for_a_payroll_nobody_approved_are_refused(core: Core) -> None:
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    async with core.uow() as uow:  # sent without approval, as an old seed left December
        await uow.session.execute(update(PayrollLine).values(status="sent"))
        await uow.commit()
        first = await uow.session.scalar(select(func.min(PayrollLine.id)))
    result = await reconcile_payroll(core, read_results(
        f"line_id,status,amount,reason,bank_reference\n{first},paid,360000,,XB-1\n"), CHECKER)
    assert (result.paid, result.rejected) == (0, [(0, "payroll.not_approved", {"line_id": first, "month": "2027-01"})])
    async with core.uow() as uow:
        assert set((await uow.session.scalars(select(PayrollLine.status))).all()) == {"sent"}


async def statuses(core: Core) -> list[str]:
    async with core.uow() as uow:
        return list((await uow.session.scalars(select(PayrollLine.status).order_by(PayrollLine.id))).all())


async def test_a_line_the_bank_reports_twice_with_different_results_is_refused_both_times(core: Core) -> None:
    first, second = await exported_january(core)
    result = await reconcile_payroll(core, read_results(
        "line_id,status,amount,reason,bank_reference\n"
        f"{first},paid,360000,,XB-1\n{second},paid,360000,,XB-2\n{first},failed,360000,card_blocked,XB-3\n"), CHECKER)
    assert (result.paid, result.failed) == (1, 0)
    assert [(i, code) for i, code, _ in result.rejected] == [
        (0, "payroll.conflicting_lines"), (2, "payroll.conflicting_lines")]
    assert await statuses(core) == ["sent", "paid"]  # nothing half-applied for the contradicted line


async def test_a_line_already_reconciled_takes_only_the_same_result_again(core: Core, clock) -> None:
    """Once the bank's result is applied (and the family told), another result for the line is
    refused as such, not as a line never sent; the same result again changes nothing."""
    first, second = await exported_january(core)
    clock.advance(dt.timedelta(hours=-8))  # 02:00 in Tashkent, still the 9th in UTC
    await reconcile_payroll(core, read_results(
        f"line_id,status,amount,reason,bank_reference\n{first},paid,360000,,XB-1\n"
        f"{second},failed,360000,card_blocked,XB-2\n"), CHECKER)
    clock.advance(dt.timedelta(days=3))
    paid_on = {"line_id": int(first), "status": "paid", "on": "2026-12-10"}
    failed_on = {"line_id": int(second), "status": "failed", "on": "2026-12-10"}
    for line, said in ((f"{first},failed,360000,card_blocked,XB-1", paid_on),
                       (f"{first},paid,360000,,XB-9", paid_on),  # another reference: another payment?
                       (f"{first},paid,360000,,", paid_on),
                       (f"{second},paid,360000,,XB-2", failed_on),
                       (f"{second},failed,360000,account_closed,XB-2", failed_on),
                       (f"{second},failed,360000,card_blocked,", failed_on)):
        later = await reconcile_payroll(core, read_results(f"line_id,status,amount,reason,bank_reference\n{line}\n"),
                                        CHECKER)
        assert later.rejected == [(0, "payroll.line_reconciled", said)], line
    again = await reconcile_payroll(core, read_results(
        "line_id,status,amount,reason,bank_reference\n"
        f"{first},paid,360000,,XB-1\n{second},failed,360000,card_blocked,XB-2\n"), CHECKER)
    assert (again.unchanged, again.refused, again.notices) == (2, 0, 0)
    async with core.uow() as uow:
        lines = (await uow.session.execute(select(
            PayrollLine.status, PayrollLine.failure_reason, PayrollLine.bank_reference).order_by(PayrollLine.id))).all()
        notices = await uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.template.like("payment.%")))
    assert [tuple(line) for line in lines] == [("paid", None, "XB-1"), ("failed", "card_blocked", "XB-2")]
    assert notices == 2


async def test_a_line_given_twice_with_different_bank_references_is_refused_both_times(core: Core) -> None:
    first, second = await exported_january(core)
    result = await reconcile_payroll(core, read_results(
        "line_id,status,amount,reason,bank_reference\n"
        f"{first},paid,360000,,XB-1\n{second},paid,360000,,XB-2\n{first},paid,360000,,XB-7\n"), CHECKER)
    assert [(i, code) for i, code, _ in result.rejected] == [
        (0, "payroll.conflicting_lines"), (2, "payroll.conflicting_lines")]
    assert await statuses(core) == ["sent", "paid"]


async def test_the_header_is_checked_and_a_byte_order_mark_is_dropped(core: Core) -> None:
    first, second = await exported_january(core)
    headless = f"{first},paid,360000,,XB-1\n{second},paid,360000,,XB-2\n"
    with pytest.raises(InvalidInput) as err:
        await reconcile_payroll(core, read_results(headless), CHECKER)
    assert err.value.code == "payroll.bad_header"
    assert err.value.params["missing"] == ["line_id", "status", "amount", "reason", "bank_reference"]
    with pytest.raises(InvalidInput) as err:
        await reconcile_payroll(core, read_results(f"line_id,status,amount\n{first},paid,360000\n"), CHECKER)
    assert err.value.params["missing"] == ["reason", "bank_reference"]
    assert await statuses(core) == ["sent", "sent"]

    # Columns in another order, one more, a BOM, bytes as read from a file: all fine.
    bank = (f"\ufeffBank_Reference,Amount,Status,Line_ID,Reason,branch\n"
            f"XB-1,360000,paid,{first},,Tashkent\nXB-2,360000,failed,{second},card_blocked,Nukus\n")
    result = await reconcile_payroll(core, iter_results(bank.encode().splitlines(keepends=True)), CHECKER)
    assert (result.paid, result.failed, result.refused) == (1, 1, 0)


async def test_unreadable_lines_say_what_is_wrong_with_them(core: Core) -> None:
    first, second = await exported_january(core)
    lines = [b"line_id,status,amount,reason,bank_reference\n", f"{first},paid,36O000,,XB-1\n".encode(),
             b"\xff\xfe,paid,1,,\n", b"\n", f"{second},paid\n".encode(), b",paid,360000,,\n",
             b"0,paid,360000,,\n", f"{second},paid,-5,,\n".encode()]
    result = await reconcile_payroll(core, iter_results(lines), CHECKER)
    assert result.rejected == [
        (0, "payroll.malformed_line", {"problem": "not_a_number", "field": "amount", "value": "36O000"}),
        (1, "payroll.malformed_line", {"problem": "not_utf8"}),
        (2, "payroll.malformed_line", {"problem": "blank"}),
        (3, "payroll.malformed_line", {"problem": "columns", "expected": 5, "found": 2}),
        (4, "payroll.malformed_line", {"problem": "missing", "field": "line_id"}),
        (5, "payroll.malformed_line", {"problem": "out_of_range", "field": "line_id", "value": "0"}),
        (6, "payroll.malformed_line", {"problem": "out_of_range", "field": "amount", "value": "-5"}),
    ]
    with pytest.raises(InvalidInput) as err:
        await reconcile_payroll(core, iter_results("line_id".encode("utf-16").splitlines(keepends=True)), CHECKER)
    assert err.value.code == "payroll.not_utf8"


async def test_a_reason_or_bank_reference_longer_than_its_column_is_refused_not_cut(core: Core) -> None:
    assert PayrollLine.__table__.c.failure_reason.type.length == RESULT_TEXT_LIMIT == 40
    assert PayrollLine.__table__.c.bank_reference.type.length == RESULT_TEXT_LIMIT
    first, second = await exported_january(core)
    long = "insufficient_funds_on_the_card_account_of_the_beneficiary_" * 2
    result = await reconcile_payroll(core, read_results(
        "line_id,status,amount,reason,bank_reference\n"
        f"{first},failed,360000,{long},XB-1\n{second},paid,360000,,{'R' * 41}\n"), CHECKER)
    assert result.rejected == [
        (0, "payroll.malformed_line", {"problem": "too_long", "field": "reason", "length": len(long), "limit": 40}),
        (1, "payroll.malformed_line", {"problem": "too_long", "field": "bank_reference", "length": 41, "limit": 40})]
    assert await statuses(core) == ["sent", "sent"]
    # Exactly 40 fits; a paid line's reason is not the bank's to give, and is neither kept nor judged.
    result = await reconcile_payroll(core, read_results(
        "line_id,status,amount,reason,bank_reference\n"
        f"{first},failed,360000,{long[:40]},{'R' * 40}\n{second},paid,360000,{long},XB-2\n"), CHECKER)
    assert (result.failed, result.paid, result.refused) == (1, 1, 0)
    async with core.uow() as uow:
        kept = (await uow.session.execute(select(PayrollLine.failure_reason, PayrollLine.bank_reference)
                                          .order_by(PayrollLine.id))).all()
    assert [tuple(k) for k in kept] == [(long[:40], "R" * 40), (None, "XB-2")]


@pytest.mark.parametrize("bank", ["", "line_id,status,amount,reason,bank_reference\n"])
async def test_a_bank_file_without_result_lines_is_refused(core: Core, bank: str) -> None:
    await exported_january(core)
    with pytest.raises(InvalidInput) as err:
        await reconcile_payroll(core, read_results(bank), CHECKER)
    assert err.value.code == "payroll.no_lines"


async def test_a_reconciled_payroll_is_not_exported_again(core: Core) -> None:
    first, second = await exported_january(core)
    await reconcile_payroll(core, read_results(
        f"line_id,status,amount,reason,bank_reference\n{first},paid,360000,,A\n{second},paid,360000,,B\n"), CHECKER)
    with pytest.raises(Conflict) as err:
        await export_payroll(core, JANUARY, io.StringIO(), CHECKER)
    assert err.value.code == "payroll.already_reconciled"


async def test_a_payroll_missing_families_enrolled_after_it_was_frozen_is_not_approved(core: Core, clock) -> None:
    """Frozen ahead of its month, a payroll lacks the families an assessment enrolled for that
    month afterwards; approved as it is, they would never be paid for it. Regenerated, it holds them."""
    await two_enrolled_families(core)
    await open_payroll(core, JANUARY, MAKER)
    clock.advance(dt.timedelta(days=2))
    _, head = await make_family(core, phone="+998931234567", children=(dt.date(2025, 1, 1),), monthly_income=300_000)
    assert (await assess_households(core)).enrolled == 1  # from January
    with pytest.raises(Conflict) as err:
        await approve_payroll(core, JANUARY, CHECKER)
    assert (err.value.code, err.value.params) == ("payroll.stale", {"month": "2027-01-01", "missing": 1})
    async with core.uow() as uow:
        assert (await cycle(uow, JANUARY)).state == "frozen"
    assert (await open_payroll(core, JANUARY, MAKER, regenerate=True)).line_count == 3
    approved = await approve_payroll(core, JANUARY, CHECKER)
    assert (approved.state, approved.line_count) == ("approved", 3)
