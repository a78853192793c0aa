"""Agency data in: validated, idempotent, newest-wins, kept with provenance, applied to the registry."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, func, select

from core.services.exchange import ingest
from core.storage.schema import (
    BankBalance,
    ExchangeRecord,
    Fact,
    Household,
    Income,
    Person,
    Property,
    Vehicle,
)
from core.storage.uow import Core
from tests.storage.factories import make_family

pytestmark = pytest.mark.postgres


def wage(pinfl: str, amount: int, *, as_of: str = "2026-12-05", record_id: str = "W-1",
         key: str = "2026-11/301234567", **extra: object) -> dict[str, object]:
    return {"agency": "soliq", "item": "soliq.wage", "pinfl": pinfl, "key": key, "value": amount,
            "unit": "UZS", "as_of": as_of, "record_id": record_id, **extra}


async def november_wage(core: Core, household_id: int) -> tuple[int, str | None]:
    async with core.uow() as uow:
        row = (await uow.session.execute(select(Income.amount, Income.agency).where(
            Income.household_id == household_id, Income.month == dt.date(2026, 11, 1),
            Income.source == "wage"))).one()
    return int(row[0]), row[1]


async def test_a_wage_is_applied_with_its_provenance_and_marks_the_household_changed(core: Core, clock) -> None:
    household_id, head = await make_family(core, monthly_income=100_000)
    clock.advance(dt.timedelta(hours=1))
    result = await ingest(core, [wage(head, 1_200_000)])
    assert (result.accepted, result.superseded, result.unchanged, result.rejected) == (1, 0, 0, [])
    assert await november_wage(core, household_id) == (1_200_000, "soliq")
    async with core.uow() as uow:
        fact = await uow.session.get(Fact, (head, "soliq.wage|2026-11/301234567"))
        household = await uow.session.get(Household, household_id)
        assert fact is not None
        assert (fact.agency, fact.agency_record_id, fact.as_of) == ("soliq", "W-1", dt.date(2026, 12, 5))
        assert household is not None and household.data_changed_at > household.created_at


async def test_two_employers_in_one_month_add_up(core: Core) -> None:
    household_id, head = await make_family(core)
    await ingest(core, [wage(head, 700_000), wage(head, 300_000, record_id="W-2", key="2026-11/309999999")])
    assert (await november_wage(core, household_id))[0] == 1_000_000


async def test_the_same_record_twice_changes_nothing(core: Core) -> None:
    household_id, head = await make_family(core)
    await ingest(core, [wage(head, 1_200_000)])
    again = await ingest(core, [wage(head, 1_200_000)])
    assert (again.accepted, again.unchanged, again.rejected) == (0, 1, [])
    async with core.uow() as uow:
        assert len((await uow.session.scalars(select(ExchangeRecord))).all()) == 1


async def test_newer_supersedes_and_older_never_overwrites(core: Core) -> None:
    household_id, head = await make_family(core)
    await ingest(core, [wage(head, 1_200_000, as_of="2026-12-05")])
    newer = await ingest(core, [wage(head, 900_000, as_of="2026-12-08", record_id="W-2")])
    assert (newer.accepted, newer.superseded) == (1, 1)
    older = await ingest(core, [wage(head, 5_000_000, as_of="2026-12-01", record_id="W-0")])
    assert (older.accepted, older.stale, older.superseded) == (1, 1, 0)
    assert (await november_wage(core, household_id))[0] == 900_000
    async with core.uow() as uow:
        statuses = dict((await uow.session.execute(
            select(ExchangeRecord.agency_record_id, ExchangeRecord.status))).all())
    assert statuses == {"W-1": "superseded", "W-2": "current", "W-0": "stale"}


async def test_within_one_batch_the_newest_wins_whatever_the_order(core: Core) -> None:
    household_id, head = await make_family(core)
    result = await ingest(core, [wage(head, 2, as_of="2026-12-08", record_id="B"),
                                 wage(head, 1, as_of="2026-12-01", record_id="A")])
    assert (result.accepted, result.superseded) == (2, 1)
    assert (await november_wage(core, household_id))[0] == 2


async def test_bad_records_are_refused_with_reasons_and_good_ones_kept(core: Core) -> None:
    household_id, head = await make_family(core)
    await ingest(core, [wage(head, 1, record_id="R")])
    batch = [
        wage(head, 500_000, record_id="OK"),
        wage("31210632040244", 1, record_id="X1"),  # valid but unknown PINFL
        {**wage(head, 1, record_id="X2"), "item": "soliq.lottery"},
        wage(head, "lots", record_id="X3"),
        wage(head, 1, record_id="X4", unit="USD"),
        wage(head, 1, record_id="X5", as_of="2027-01-01"),
        wage(head, 600_000, record_id="OK"),  # the same id with other content in one batch
        wage(head, 2, record_id="R"),  # the same agency id with other content
        wage(head, 1, record_id="X6", key="2026-11"),
        "not a record",
    ]
    result = await ingest(core, batch)
    assert result.accepted == 1
    assert [(i, code) for i, code, _ in result.rejected] == [
        (1, "exchange.unknown_pinfl"), (2, "exchange.unknown_item"), (3, "exchange.wrong_type"),
        (4, "exchange.wrong_unit"), (5, "exchange.future_as_of"), (6, "exchange.duplicate_in_batch"),
        (7, "exchange.record_id_reused"), (8, "exchange.bad_key"), (9, "exchange.not_an_object")]
    assert (await november_wage(core, household_id))[0] == 500_000


async def test_assets_disability_and_service_reach_the_tables_eligibility_reads(core: Core) -> None:
    household_id, head = await make_family(core)
    base = {"pinfl": head, "as_of": "2026-12-01"}
    result = await ingest(core, [
        {**base, "agency": "yhxbb", "item": "yhxbb.vehicle", "key": "01A123BC", "record_id": "V1",
         "value": {"year": 2022, "roadworthy": True, "kind": "car"}},
        {**base, "agency": "kadastr", "item": "kadastr.residential_property", "key": "10:01:02:0003",
         "record_id": "K1", "value": True},
        {**base, "agency": "bank", "item": "bank.balance", "key": "ACC1", "record_id": "B1", "value": 4_000_000,
         "unit": "UZS"},
        {**base, "agency": "bank", "item": "bank.deposit", "key": "DEP1", "record_id": "B2", "value": 1_000_000},
        {**base, "agency": "vtek", "item": "vtek.disability_group", "record_id": "D1", "value": "group2"},
        {**base, "agency": "mudofaa", "item": "mudofaa.service", "record_id": "M1", "value": True},
    ])
    assert (result.accepted, result.rejected) == (6, [])
    async with core.uow() as uow:
        s = uow.session
        assert (await s.execute(select(Vehicle.year, Vehicle.roadworthy, Vehicle.plate))).all() == [
            (2022, True, "01A123BC")]
        assert (await s.scalars(select(Property.cadastre_number))).all() == ["10:01:02:0003"]
        assert (await s.scalars(select(BankBalance.amount))).all() == [5_000_000]
        person = await s.scalar(select(Person).where(Person.pinfl == head))
        assert person is not None and (person.disability, person.service_body) == ("group2", "defence")
    # The car is sold and the service ends: the registry follows.
    later = {"pinfl": head, "as_of": "2026-12-09"}
    await ingest(core, [
        {**later, "agency": "yhxbb", "item": "yhxbb.vehicle_deregistered", "key": "01A123BC", "record_id": "V2",
         "value": "2026-12-08"},
        {**later, "agency": "mudofaa", "item": "mudofaa.service", "record_id": "M2", "value": False},
    ])
    async with core.uow() as uow:
        assert (await uow.session.scalars(select(Vehicle.id))).all() == []
        assert await uow.session.scalar(select(Person.service_body).where(Person.pinfl == head)) is None


async def test_values_past_their_validity_stop_counting_and_the_family_is_reassessed(core: Core, clock) -> None:
    from core.services.assessment import assess_households, households_due
    from core.services.exchange import expire_facts

    household_id, head = await make_family(core)
    base = {"pinfl": head, "as_of": "2026-12-01"}
    await ingest(core, [
        {**base, "agency": "bank", "item": "bank.balance", "key": "ACC1", "record_id": "B1", "value": 9_000_000},
        {**base, "agency": "bank", "item": "bank.deposit", "key": "DEP1", "record_id": "B2", "value": 1_000_000,
         "as_of": "2026-12-09"},
        {**base, "agency": "vtek", "item": "vtek.disability_group", "record_id": "D1", "value": "group2"},
        {**base, "agency": "mudofaa", "item": "mudofaa.service", "record_id": "M1", "value": True},
    ])
    await assess_households(core)
    assert await households_due(core) == 0
    assert await expire_facts(core) == 0  # nothing has lapsed yet

    # 61 days on, the balance (valid 60 days) has lapsed; the deposit, 8 days younger, has not.
    clock.set(dt.date(2027, 1, 31))
    assert await expire_facts(core) == 1
    async with core.uow() as uow:
        s = uow.session
        assert (await s.scalars(select(BankBalance.amount))).all() == [1_000_000]
        assert (await s.scalars(select(Fact.item).where(Fact.item.like("bank.%")))).all() == ["bank.deposit|DEP1"]
        assert await s.scalar(select(ExchangeRecord.status).where(ExchangeRecord.agency_record_id == "B1")) == "expired"
    assert await households_due(core) == 1  # due for the next assessment
    assert (await assess_households(core)).assessed == 1

    # Two years on, the disability group and the service record have lapsed too.
    clock.set(dt.date(2028, 12, 5))
    assert await expire_facts(core, batch=1) == 3  # in batches of one: every batch commits
    async with core.uow() as uow:
        person = await uow.session.scalar(select(Person).where(Person.pinfl == head))
        assert person is not None and (person.disability, person.service_body) == (None, None)
        assert (await uow.session.scalars(select(BankBalance.amount))).all() == []
    assert await expire_facts(core) == 0


async def test_a_seeded_registry_comes_with_the_agency_records_behind_it(core: Core, clock) -> None:
    """The seed writes the records behind its incomes, assets, disability and service; decisions
    name them; ``spsr exchange generate`` writes the same records, so importing them changes
    nothing, and importing them into a registry without them changes no decision."""
    import io
    import json

    from core.seed.loader import seed_registry
    from core.services.assessment import assess_households
    from core.services.decisions import provenance_of
    from core.services.exchange import generate_records
    from core.storage.schema import Decision

    await seed_registry(core, 120, 7)
    summary = await assess_households(core, everything=True)
    async with core.uow() as uow:
        rows = list((await uow.session.scalars(select(Decision).where(Decision.application_id.is_(None)))).all())
        provenance = await provenance_of(uow, rows)
        facts = int(await uow.session.scalar(select(func.count()).select_from(Fact)) or 0)
        # Every fact names its exchange record, and the seeded ones are those the decisions name.
        assert await uow.session.scalar(select(func.count()).select_from(Fact).where(Fact.record_id.is_(None))) == 0
        with_sources = [provenance[r.id] for r in rows if provenance[r.id]]
        first = {r.household_id: (r.eligible, r.category, r.amount) for r in rows}
    assert summary.assessed == len(rows) == 120 and facts > 120
    assert len(with_sources) > 100
    assert any(key.split(":", 1)[1].startswith("soliq.wage|") for p in with_sources for key in p)

    out = io.StringIO()
    # Without the civil registry's news since the seed (births, moves: see test_families.py).
    records = [json.loads(line) for line in (await generate_records(core, out, events=False)
                                             and out.getvalue()).splitlines()]
    assert len(records) == facts
    result = await ingest(core, records)
    assert (result.accepted, result.unchanged, result.rejected) == (0, len(records), [])

    # Without them, importing them gives the same decisions.
    clock.advance(dt.timedelta(hours=1))
    async with core.uow() as uow:
        await uow.session.execute(delete(Fact))
        await uow.session.execute(delete(ExchangeRecord))
        await uow.commit()
    result = await ingest(core, records)
    assert (result.accepted, result.rejected) == (len(records), [])
    again = await assess_households(core)
    assert again.assessed > 0 and again.enrolled == again.ending == 0
    async with core.uow() as uow:
        latest = {hid: (eligible, category, amount) for hid, eligible, category, amount in (await uow.session.execute(
            select(Decision.household_id, Decision.eligible, Decision.category, Decision.amount)
            .where(Decision.application_id.is_(None)).order_by(Decision.id))).all()}
    assert latest == first


async def test_a_number_too_large_is_refused_alone_and_the_batch_is_kept(core: Core) -> None:
    household_id, head = await make_family(core)
    result = await ingest(core, [wage(head, 99999999999999999999, record_id="BIG"), wage(head, 1_200_000)])
    assert result.accepted == 1
    assert [(i, code, p["value"]) for i, code, p in result.rejected] == [
        (0, "exchange.bad_value", "99999999999999999999")]
    assert (await november_wage(core, household_id))[0] == 1_200_000


async def test_a_plate_longer_than_the_registry_keeps_is_one_record_refused_not_the_batch(core: Core) -> None:
    """``vehicles.plate`` holds 12 characters; a 13-character key (the text pattern allows 24) was
    written into it and failed the whole batch on PostgreSQL. It is refused on its own."""
    household_id, head = await make_family(core)
    base = {"pinfl": head, "as_of": "2026-12-01", "agency": "yhxbb", "item": "yhxbb.vehicle",
            "value": {"year": 2022, "roadworthy": True, "kind": "car"}}
    result = await ingest(core, [{**base, "key": "01A123BC45678", "record_id": "V1"},
                                 {**base, "key": "01A123BC4567", "record_id": "V2"}])
    assert result.accepted == 1
    [(index, code, params)] = result.rejected
    assert (index, code, params["reason"], params["limit"]) == (0, "exchange.bad_key", "too_long", 12)
    async with core.uow() as uow:
        assert (await uow.session.scalars(select(Vehicle.plate))).all() == ["01A123BC4567"]
