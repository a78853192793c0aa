"""A batch is never lost to one record: text no database stores, sums past the limit, values long
lapsed and the same batch sent twice at once are each answered for, and the rest is stored."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from core.exchange import MAX_NUMBER
from core.services.assessment import assess_households
from core.services.exchange import ingest
from core.storage.schema import BankBalance, ExchangeRecord, Income, Person
from core.storage.uow import Core
from tests.storage.factories import make_family

pytestmark = pytest.mark.postgres


def wage(pinfl: str, amount: int, record_id: str, key: str = "2026-11/301234567",
         as_of: str = "2026-12-05") -> dict[str, object]:
    return {"agency": "soliq", "item": "soliq.wage", "pinfl": pinfl, "key": key, "value": amount, "unit": "UZS",
            "as_of": as_of, "record_id": record_id}


def card(pinfl: str, value: str, record_id: str = "C-1") -> dict[str, object]:
    return {"agency": "bank", "item": "bank.social_card", "pinfl": pinfl, "value": value, "as_of": "2026-12-05",
            "record_id": record_id}


async def records(core: Core) -> dict[str, str]:
    async with core.uow() as uow:
        return dict((await uow.session.execute(select(ExchangeRecord.agency_record_id, ExchangeRecord.status))).all())


async def test_text_no_database_stores_is_refused_alone(core: Core) -> None:
    _, head = await make_family(core)
    batch = [
        wage(head, 1, "Y0", key="0000-12", as_of="0001-01-01"),  # year 0: date() refused it mid-batch
        wage(head, 1, "Y1", key="0000-12/301234567"),
        card(head, "x\x00y", "NUL-VALUE"),  # PostgreSQL's JSON holds no NUL
        wage(head, 1, "NUL\x00ID"),
        wage(head, 1, "x\udc00"),  # a lone surrogate, from JSON's "\udc00"
        card(head, "x\udc00", "SURROGATE-VALUE"),
        wage(head, 700_000, "OK"),
    ]
    result = await ingest(core, batch)
    assert [(i, code) for i, code, _ in result.rejected] == [
        (0, "exchange.early_as_of"), (1, "exchange.bad_key"), (2, "exchange.bad_value"),
        (3, "exchange.bad_record_id"), (4, "exchange.bad_record_id"), (5, "exchange.bad_value")]
    assert result.accepted == 1 and await records(core) == {"OK": "current"}
    again = await ingest(core, batch)  # and the same again changes nothing
    assert (again.accepted, again.unchanged, len(again.rejected)) == (0, 1, 6)


async def test_a_household_s_sums_stay_within_the_limit_and_others_are_kept(core: Core) -> None:
    household_id, head = await make_family(core, monthly_income=100_000)
    _, other = await make_family(core)
    at_cap = [wage(head, MAX_NUMBER, f"W-{m}-{n}", key=f"2026-{m}/30123450{n}")
              for m in ("09", "10", "11") for n in range(3)]
    batch = [*at_cap, wage(other, 800_000, "OTHER")]
    result = await ingest(core, batch)
    # The first wage of each month takes the household to the limit; the next ones would pass it.
    assert result.accepted == 4
    assert [(i, code) for i, code, _ in result.rejected] == [
        (i, "exchange.total_too_large") for i in (1, 2, 4, 5, 7, 8)]
    assert result.rejected[0][2] == {"item": "soliq.wage", "total": "household_month_income", "month": "2026-09",
                                     "limit": MAX_NUMBER}
    async with core.uow() as uow:
        months = dict((await uow.session.execute(select(Income.month, func.sum(Income.amount)).where(
            Income.household_id == household_id).group_by(Income.month))).all())
    assert all(int(total) <= MAX_NUMBER for total in months.values()), months
    # A newer, smaller wage replaces one at the cap: the room it leaves is taken again.
    lower = await ingest(core, [wage(head, 5, "W-11-0b", key="2026-11/301234500", as_of="2026-12-08"),
                                wage(head, MAX_NUMBER - 5, "W-11-1b", key="2026-11/301234501", as_of="2026-12-08")])
    assert (lower.accepted, lower.superseded, lower.rejected) == (2, 1, [])
    assert (await assess_households(core, everything=True)).assessed == 2  # the SQL sums hold too


async def test_balances_are_held_to_the_limit_per_household(core: Core) -> None:
    household_id, head = await make_family(core)
    async with core.uow() as uow:
        partner = await uow.session.scalar(select(Person.pinfl).where(
            Person.household_id == household_id, Person.pinfl != head).limit(1))
    accounts = [{"agency": "bank", "item": "bank.balance", "pinfl": pinfl, "key": f"ACC{n}", "value": MAX_NUMBER // 2,
                 "unit": "UZS", "as_of": "2026-12-05", "record_id": f"B-{n}"}
                for n, pinfl in enumerate([head, head, partner or head])]
    result = await ingest(core, accounts)
    assert (result.accepted, [(i, c) for i, c, _ in result.rejected]) == (2, [(2, "exchange.total_too_large")])
    async with core.uow() as uow:
        total = await uow.session.scalar(select(func.sum(BankBalance.amount)).where(
            BankBalance.household_id == household_id))
    assert total == 2 * (MAX_NUMBER // 2)


async def test_the_same_batch_twice_at_once_is_stored_once(core: Core) -> None:
    # A client that timed out sends its batch again while the first is still being written.
    _, head = await make_family(core)
    batch = [wage(head, 100_000 + n, f"R-{n}", key=f"2026-11/30{n:07d}") for n in range(300)]
    first, second = await asyncio.gather(ingest(core, batch), ingest(core, batch))
    assert sorted([(first.accepted, first.unchanged), (second.accepted, second.unchanged)]) == [(0, 300), (300, 0)]
    assert first.rejected == second.rejected == []
    assert len(await records(core)) == 300


async def test_a_value_past_its_validity_is_kept_as_expired_and_never_applied(core: Core) -> None:
    _, head = await make_family(core)
    lapsed = {"agency": "mudofaa", "item": "mudofaa.service", "pinfl": head, "value": True, "as_of": "2020-01-01",
              "record_id": "lapsed-1"}
    result = await ingest(core, [lapsed, wage(head, 1, "W-1900", key="1899-12", as_of="1900-01-01"),
                                 wage(head, 1, "W-1899", as_of="1899-12-31")])
    assert (result.accepted, result.expired, result.expired_at) == (1, 1, [0])
    assert [(i, code) for i, code, _ in result.rejected] == [(1, "exchange.bad_key"), (2, "exchange.early_as_of")]
    assert await records(core) == {"lapsed-1": "expired"}
    async with core.uow() as uow:
        assert await uow.session.scalar(select(Person.service_body).where(Person.pinfl == head)) is None
        assert await uow.session.scalar(select(func.count()).select_from(Income).where(
            Income.month < dt.date(2000, 1, 1))) == 0
    again = await ingest(core, [lapsed])
    assert (again.accepted, again.unchanged, again.unchanged_at) == (0, 1, [0])


async def test_a_repeat_in_a_batch_shares_the_fate_of_its_first(core: Core) -> None:
    _, head = await make_family(core)
    unknown = wage("31210632040244", 1, "U-1")
    ok = wage(head, 5, "OK-1")
    result = await ingest(core, [ok, unknown, ok, unknown, {**ok, "value": 6}])
    assert (result.accepted, result.unchanged, result.unchanged_at) == (1, 1, [2])
    assert [(i, code) for i, code, _ in result.rejected] == [
        (1, "exchange.unknown_pinfl"), (3, "exchange.unknown_pinfl"), (4, "exchange.duplicate_in_batch")]


async def test_a_batch_is_checked_before_its_unit_of_work_takes_the_write_lock(
        core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.services import exchange

    _, head = await make_family(core)
    said: list[str] = []
    check, uow = exchange.validate_record, core.uow

    def checking(*args: Any, **kwargs: Any) -> Any:
        said.append("check")
        return check(*args, **kwargs)

    def opening(**kwargs: Any) -> Any:
        said.append("unit of work")
        return uow(**kwargs)

    monkeypatch.setattr(exchange, "validate_record", checking)
    monkeypatch.setattr(core, "uow", opening)
    result = await ingest(core, [wage(head, 700_000, "W-1"), wage(head, 1, "W-2", key="bad")])
    # Every record checked, and only then the unit of work (SQLite's write lock) opened.
    assert said == ["check", "check", "unit of work"]
    assert result.accepted == 1 and [code for _, code, _ in result.rejected] == ["exchange.bad_key"]
