"""Value expiry, set-based: the same registry as the per-row path it replaced, slice by slice."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import defaultdict
from types import TracebackType
from typing import Any

import pytest
from sqlalchemy import Table, and_, bindparam, delete, insert, or_, select, update

from core.exchange import AgencyRecord, Catalogue, ItemSpec, load_catalogue
from core.services import exchange, exchange_expiry
from core.services.exchange import _apply, _expired_value, _FactRow, _split, ingest
from core.services.exchange_expiry import EXPIRY, expire_facts
from core.storage.in_lists import in_chunks
from core.storage.locks import INGEST, transaction_lock
from core.storage.schema import (
    AuditEntry,
    BankBalance,
    ExchangeRecord,
    ExpiryRun,
    Fact,
    Household,
    Income,
    Person,
    Property,
    Vehicle,
)
from core.storage.uow import Actor, Core
from tests.storage.factories import make_family

pytestmark = pytest.mark.postgres

TODAY = dt.date(2026, 12, 10)  # when the records come in
LATER = dt.date(2027, 1, 9)  # when some of them have lapsed
# A third agency paying benefits, so that a month's benefit can be left with two agencies' values.
EXTRA = ItemSpec(agency="mahalla", item="mahalla.benefit", meaning="Benefit paid by the mahalla", type="money",
                 unit="UZS", valid_days=120, key="month", applies={"table": "incomes", "source": "benefit"})


def catalogue_with(*extra: ItemSpec) -> Catalogue:
    base = load_catalogue()
    return Catalogue(base.agencies, {**base.items, **{spec.item: spec for spec in extra}})


@pytest.fixture
def catalogue(monkeypatch: pytest.MonkeyPatch) -> Catalogue:
    wider = catalogue_with(EXTRA)
    for module in (exchange, exchange_expiry):
        monkeypatch.setattr(module, "load_catalogue", lambda: wider)
    return wider


def on(days: int, *, lapsed: bool) -> str:
    """An as-of date ``LATER``'s cut-off of a ``days``-valid item leaves in force (on the boundary day
    itself) or lapsed (the day before it)."""
    return (LATER - dt.timedelta(days=days + (1 if lapsed else 0))).isoformat()


def record(pinfl: str, item: str, value: Any, as_of: str, key: str | None = None) -> dict[str, Any]:
    record.serial += 1  # type: ignore[attr-defined]
    return {"agency": item.split(".")[0], "item": item, "pinfl": pinfl, "key": key, "value": value,
            "as_of": as_of, "record_id": f"R{record.serial}"}  # type: ignore[attr-defined]


record.serial = 0  # type: ignore[attr-defined]


async def build_registry(core: Core, *, odd: bool = True) -> tuple[list[int], list[list[str]]]:
    """Families holding values of every kind eligibility reads, some lapsing on ``LATER`` and some
    (on the boundary day, or newer) not; ``odd`` adds a member moved to another family (a lapse the
    statements leave to ``_apply``) and facts no ingest writes (a person the registry no longer
    holds, no household, one filed under another household, an item the catalogue no longer has)."""
    households, people = [], []
    for children in ((), (dt.date(2015, 5, 1),), (dt.date(2012, 1, 1), dt.date(2019, 9, 9))):
        for _ in range(2):
            hid, head = await make_family(core, children=children, monthly_income=400_000)
            households.append(hid)
            async with core.uow() as uow:
                people.append(list((await uow.session.scalars(
                    select(Person.pinfl).where(Person.household_id == hid).order_by(Person.id))).all()))
    (a, a2), (b, b2), (c, c2, c3), (d, d2, d3), (e, e2, e3, e4), (g, *_) = people
    wage, month = "soliq.wage", "2026-09"
    records = [
        # Incomes: one employer's wage lapses, another's stays; several sources and agencies.
        record(a, wage, 700_000, on(120, lapsed=True), f"{month}/301234567"),
        record(a, wage, 300_000, on(120, lapsed=False), f"{month}/309999999"),
        record(a, wage, 500_000, on(120, lapsed=True), "2026-08/301234567"),
        record(a, "soliq.self_employment_income", 90_000, on(120, lapsed=True), month),
        record(a, "soliq.entrepreneur_income", 60_000, on(120, lapsed=False) , month),
        record(a2, "mahalla.benefit", 10_000, on(120, lapsed=False), month),
        record(a2, "pensiya.social_allowance", 20_000, on(120, lapsed=True), month),
        record(a2, "bandlik.unemployment_benefit", 30_000, on(120, lapsed=False), month),
        record(a2, "pensiya.social_allowance", 25_000, on(120, lapsed=True), "2026-08"),
        record(a2, "bandlik.unemployment_benefit", 35_000, on(120, lapsed=True), "2026-08"),
        record(a2, "pensiya.old_age_pension", 800_000, on(120, lapsed=True), "2026-07"),
        record(a2, "pensiya.disability_pension", 100_000, on(120, lapsed=False), "2026-07"),
        record(b, "soliq.dividend_income", 5_000, on(120, lapsed=True), "2026-06"),
        record(b, "soliq.rental_income", 7_000, on(120, lapsed=True), "2026-06"),
        record(b2, "pensiya.survivor_pension", 400_000, on(120, lapsed=False), "2026-08"),
        # Vehicles: a registration lapses; one stays; a deregistration a century old lapses and its
        # vehicle (registered since) is held again; a deregistered one stays gone.
        record(b, "yhxbb.vehicle", {"year": 2021, "roadworthy": True, "kind": "car"}, on(365, lapsed=True), "01A111AA"),
        record(b, "yhxbb.vehicle", {"year": 2019, "roadworthy": False, "kind": "truck"}, on(365, lapsed=False),
               "01A222BB"),
        record(b2, "yhxbb.vehicle_deregistered", "1927-01-01", on(36500, lapsed=True), "01A333CC"),
        record(b2, "yhxbb.vehicle", {"year": 2024, "roadworthy": True, "kind": "motorcycle"}, on(365, lapsed=False),
               "01A333CC"),
        record(c, "yhxbb.vehicle", {"year": 2010, "roadworthy": True, "kind": "tractor"}, on(365, lapsed=True),
               "01A444DD"),
        record(c, "yhxbb.vehicle_deregistered", "2026-12-01", "2026-12-01", "01A444DD"),
        # Properties: owned and disposed of, lapsing and not.
        record(c, "kadastr.residential_property", True, on(730, lapsed=True), "10:01:02:03"),
        record(c, "kadastr.residential_property", True, on(730, lapsed=False), "10:01:02:04"),
        record(c2, "kadastr.non_residential_property", False, on(730, lapsed=True), "10:01:02:05"),
        record(c2, "kadastr.non_residential_property", True, on(730, lapsed=False), "10:01:02:06"),
        record(c3, "kadastr.non_residential_property", True, on(730, lapsed=True), "10:01:02:07"),
        # Balances: one of two lapses; the only one lapses; none lapses.
        record(d, "bank.balance", 9_000_000, on(60, lapsed=True), "ACC1"),
        record(d, "bank.deposit", 1_000_000, on(60, lapsed=False), "DEP1"),
        record(d, "bank.balance", 2_000_000, on(60, lapsed=False), "ACC9"),
        record(d2, "bank.balance", 3_000_000, on(60, lapsed=True), "ACC2"),
        record(d3, "bank.deposit", 4_000_000, on(60, lapsed=False), "DEP3"),
        # Disability, service, death.
        record(d, "vtek.disability_group", "group2", on(730, lapsed=True)),
        record(d2, "vtek.disability_group", "group1", on(730, lapsed=False)),
        record(e, "mudofaa.service", True, on(365, lapsed=True)),
        record(e2, "mudofaa.service", True, on(365, lapsed=True)),
        record(e2, "iiv.service", True, on(365, lapsed=False)),  # newer: serving in the interior now
        record(e3, "iiv.service", True, on(365, lapsed=False)),
        record(e3, "fhdyo.death", "1926-12-31", on(36500, lapsed=True)),
        record(e4, "fhdyo.death", "1927-01-01", on(36500, lapsed=False)),
        # Kept as facts only: the household is re-decided all the same.
        record(g, "bandlik.formal_job", True, on(120, lapsed=True)),
        record(g, "bank.social_card", "8600****1234", on(365, lapsed=False)),
    ]
    result = await ingest(core, records)
    assert (result.accepted, result.rejected, result.expired) == (len(records), [], 0)
    if odd:
        # The civil registry moves the third family's child to the last family; the move lapses.
        moved = await ingest(core, [record(c3, "fhdyo.household_member", g, on(365, lapsed=True))])
        assert (moved.accepted, moved.rejected) == (1, [])
        async with core.uow() as uow:
            s = uow.session
            received = uow.now()
            old = dt.date.fromisoformat(on(120, lapsed=True))
            facts = [("31212989999991", "soliq.wage|2026-09/301234567", households[0], 1),  # nobody's
                     (b2, "soliq.wage|2026-09/301234567", None, 2),  # no household
                     (g, "soliq.wage|2026-09/301234567", households[0], 3),  # filed under another
                     (c, "retired.item", households[2], 4)]  # an item the catalogue dropped
            for n, (pinfl, item, hid, value) in enumerate(facts):
                await s.execute(insert(ExchangeRecord).values(
                    agency="soliq", agency_record_id=f"ODD{n}", item=item.split("|")[0], pinfl=pinfl,
                    value={"value": value}, as_of=old, received_at=received, status="current"))
                await s.execute(insert(Fact).values(
                    pinfl=pinfl, item=item, household_id=hid, value={"value": value}, agency="soliq",
                    agency_record_id=f"ODD{n}", as_of=old, received_at=received))
            await uow.commit()
    return households, people


# --- the per-row path this replaced, as it was (the reference) ---------------------------------


async def expire_row_by_row(core: Core, actor: Actor = EXPIRY, *, batch: int = 5000) -> int:
    catalogue = exchange.load_catalogue()
    total = 0
    while True:
        async with core.uow() as uow:
            s = uow.session
            await transaction_lock(s, INGEST)
            today, now = uow.today(), uow.now()
            by_days: dict[int, list[str]] = defaultdict(list)
            for item_spec in catalogue.items.values():
                by_days[item_spec.valid_days].append(item_spec.item)
            lapsed = or_(*(
                and_(Fact.as_of < today - dt.timedelta(days=days),
                     or_(*(or_(Fact.item == item, Fact.item.like(item + "|%")) for item in items)))
                for days, items in by_days.items()))
            rows = (await s.execute(select(Fact.pinfl, Fact.item, Fact.agency, Fact.agency_record_id)
                                    .where(lapsed).limit(batch))).all()
            if not rows:
                return total
            ftable, rtable = _table(Fact), _table(ExchangeRecord)
            await s.execute(delete(ftable).where(and_(ftable.c.pinfl == bindparam("p"), ftable.c.item == bindparam("i"))),
                            [{"p": p, "i": i} for p, i, _, _ in rows])
            await s.execute(
                update(rtable).where(and_(rtable.c.agency == bindparam("a"), rtable.c.agency_record_id == bindparam("r")))
                .values(status="expired"), [{"a": a, "r": r} for _, _, a, r in rows])
            persons: dict[str, tuple[int, int]] = {}
            facts: dict[str, dict[str, _FactRow]] = defaultdict(dict)
            for chunk in in_chunks(sorted({p for p, _, _, _ in rows})):
                persons.update({p: (pid, hid) for p, pid, hid in await s.execute(
                    select(Person.pinfl, Person.id, Person.household_id).where(Person.pinfl.in_(chunk)))})
                for pinfl, item, value, agency, rid, as_of, received in await s.execute(
                        select(Fact.pinfl, Fact.item, Fact.value, Fact.agency, Fact.agency_record_id, Fact.as_of,
                               Fact.received_at).where(Fact.pinfl.in_(chunk))):
                    facts[pinfl][item] = _FactRow(value.get("value"), agency, rid, as_of, received)
            changed = []
            for pinfl, fact_item, agency, rid in rows:
                item, key = _split(fact_item)
                lapsed_spec = catalogue.items.get(item)
                if lapsed_spec is None or lapsed_spec.applies is None or pinfl not in persons:
                    continue
                value = _expired_value(lapsed_spec) if lapsed_spec.table == "persons" else None
                changed.append(AgencyRecord(agency, item, pinfl, value, today, rid, key))
            if changed:
                await _apply(uow, catalogue, changed, persons, facts)
            households = sorted({hid for _, hid in persons.values()})
            for ids in in_chunks(households):
                await s.execute(update(Household).where(Household.id.in_(ids)).values(data_changed_at=now))
            uow.audit(actor, "exchange.expired", "exchange", today.isoformat(), facts=len(rows),
                      households=len(households))
            await uow.commit()
            total += len(rows)


def _table(model: type) -> Table:
    return model.__table__  # type: ignore[no-any-return]


# --- the registry as expiry leaves it --------------------------------------------------------

REPLACED = (Fact, ExchangeRecord, Income, Vehicle, Property, BankBalance)  # restored row by row
UPDATED = {Person: ("disability", "service_body", "died_on"), Household: ("data_changed_at",)}


async def snapshot(core: Core) -> dict[str, list[dict[str, Any]]]:
    async with core.uow() as uow:
        out = {}
        for model in (*REPLACED, *UPDATED):
            table = _table(model)
            out[table.name] = [dict(r) for r in (await uow.session.execute(select(table))).mappings()]
        return out


async def restore(core: Core, saved: dict[str, list[dict[str, Any]]]) -> None:
    async with core.uow() as uow:
        s = uow.session
        for model in REPLACED:
            table = _table(model)
            await s.execute(delete(table))
            if saved[table.name]:
                await s.execute(insert(table), saved[table.name])
        # And the run that retired them forgotten: a finished run is why a later one the same day skips.
        await s.execute(delete(_table(ExpiryRun)))
        for model, columns in UPDATED.items():
            table = _table(model)
            await s.execute(update(table).where(table.c.id == bindparam("b_id")).values(
                {c: bindparam(f"b_{c}") for c in columns}),
                [{"b_id": r["id"], **{f"b_{c}": r[c] for c in columns}} for r in saved[table.name]])
        await uow.commit()


# Surrogate ids of recomputed rows are new either way: compared by what they say.
SAID = {"facts": None, "exchange_records": ("id", "status"),
        "incomes": ("household_id", "person_id", "month", "source", "amount", "agency"),
        "vehicles": ("household_id", "person_id", "kind", "year", "roadworthy", "plate"),
        "properties": ("household_id", "person_id", "kind", "cadastre_number"),
        "bank_balances": ("household_id", "person_id", "amount", "as_of"),
        "persons": ("id", "disability", "service_body", "died_on"), "households": ("id", "data_changed_at")}


def said(saved: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    return {name: sorted(json.dumps([r[c] for c in columns or sorted(r)], default=str) for r in saved[name])
            for name, columns in SAID.items()}


async def expired_in_audit(core: Core) -> int:
    async with core.uow() as uow:
        details = (await uow.session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "exchange.expired"))).all()
    return sum(d["facts"] for d in details)


async def test_set_based_expiry_leaves_the_registry_as_the_per_row_path_did(
        core: Core, clock, catalogue: Catalogue) -> None:
    await build_registry(core)
    before = await snapshot(core)
    clock.set(LATER)
    clock.advance(dt.timedelta(hours=2))
    expected_count = await expire_row_by_row(core)
    expected = said(await snapshot(core))
    assert expected_count == 26  # 22 ingested, the move, and 3 odd ones (not the dropped item's)
    assert expected != said(before)

    for batch in (1, 7, exchange_expiry.EXPIRE_BATCH):
        await restore(core, before)
        assert said(await snapshot(core)) == said(before)
        audited = await expired_in_audit(core)
        assert await expire_facts(core, batch=batch) == expected_count
        got = said(await snapshot(core))
        for name in SAID:
            assert got[name] == expected[name], (batch, name)
        assert await expired_in_audit(core) - audited == expected_count
        assert await expire_facts(core, batch=batch) == 0  # nothing left to retire


async def test_what_expiry_writes_for_each_kind_of_value(core: Core, clock, catalogue: Catalogue) -> None:
    """The registry after expiry, spelt out: what the per-row path wrote and the set-based one must."""
    households, people = await build_registry(core)
    clock.set(LATER)
    assert await expire_facts(core) == 26
    async with core.uow() as uow:
        s = uow.session
        pinfls = {p: (pid, hid) for p, pid, hid in (await s.execute(select(Person.pinfl, Person.id, Person.household_id)))}
        incomes = {(pid, m.isoformat()[:7], src): (amount, agency) for pid, m, src, amount, agency in await s.execute(
            select(Income.person_id, Income.month, Income.source, Income.amount, Income.agency))}
        names = {pid: p for p, (pid, _) in pinfls.items()}
        by_person = defaultdict(dict)
        for (pid, month, src), value in incomes.items():
            by_person[names[pid]][(month, src)] = value
        a, a2 = sorted((p for p, (_, hid) in pinfls.items() if hid == households[0]), key=lambda p: pinfls[p][0])
        assert by_person[a][("2026-09", "wage")] == (300_000, "soliq")  # the other employer's is left
        assert by_person[a][("2026-08", "wage")] == (0, "")  # none left: a row of nothing, as before
        assert by_person[a][("2026-09", "self_employment")] == (60_000, "soliq")
        assert by_person[a2][("2026-09", "benefit")] == (40_000, "bandlik,mahalla")
        assert by_person[a2][("2026-08", "benefit")] == (0, "")
        assert by_person[a2][("2026-07", "pension")] == (100_000, "pensiya")
        plates = sorted((await s.scalars(select(Vehicle.plate))).all())
        assert plates == ["01A222BB", "01A333CC"]
        assert sorted((await s.scalars(select(Property.cadastre_number).where(Property.cadastre_number.like("10:%"))))
                      .all()) == ["10:01:02:04", "10:01:02:06"]
        assert sorted((await s.execute(select(BankBalance.amount, BankBalance.as_of))).all()) == [
            (3_000_000, dt.date.fromisoformat(on(60, lapsed=False))),
            (4_000_000, dt.date.fromisoformat(on(60, lapsed=False)))]
        columns = {p: (dis, body, died) for p, dis, body, died in await s.execute(
            select(Person.pinfl, Person.disability, Person.service_body, Person.died_on))}
        (d, d2, _), (e, e2, e3, e4) = people[3], people[4]
        assert [columns[p] for p in (d, d2, e, e2, e3, e4)] == [
            (None, None, None), ("group1", None, None),  # a lapsed disability group reads 'none'
            (None, None, None),  # no longer serving in defence
            (None, "interior", None),  # serving in the interior still: its record has not lapsed
            (None, "interior", None), (None, None, dt.date(1927, 1, 1))]  # a death on record lapses
        retired = (await s.scalars(select(ExchangeRecord.agency_record_id).where(ExchangeRecord.status == "expired")))
        assert len(retired.all()) == 26
        assert await s.scalar(select(Fact.item).where(Fact.item == "retired.item")) == "retired.item"
        stamped = set((await s.scalars(select(Household.id).where(Household.data_changed_at >= uow.now()))).all())
        assert stamped == set(households)


def by_household(saved: dict[str, list[dict[str, Any]]]) -> dict[int, str]:
    """Everything expiry writes, grouped by the household it belongs to."""
    home = {r["pinfl"]: r["household_id"] for r in saved["persons"]}
    person_home = {r["id"]: r["household_id"] for r in saved["persons"]}
    rows: dict[int, list[str]] = defaultdict(list)
    for name, columns in SAID.items():
        for r in saved[name]:
            hid = (r["id"] if name == "households" else person_home[r["id"]] if name == "persons"
                   else home[r["pinfl"]] if name == "exchange_records" else r["household_id"])
            rows[hid].append(name + json.dumps([r[c] for c in columns or sorted(r)], default=str))
    return {hid: "\n".join(sorted(lines)) for hid, lines in rows.items()}


async def test_a_run_stopped_mid_slice_leaves_each_slice_whole_and_a_rerun_finishes(
        core: Core, clock, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    households, _ = await build_registry(core, odd=False)
    clock.set(LATER)
    before = await snapshot(core)
    count = await expire_facts(core)
    expected = await snapshot(core)
    await restore(core, before)

    real, calls = exchange_expiry._vehicles, []

    async def killed_in_the_second(*args: Any) -> None:
        calls.append(args)
        await real(*args)  # its statements ran; the slice's transaction has not committed
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(exchange_expiry, "_vehicles", killed_in_the_second)
    with pytest.raises(KeyboardInterrupt):
        await expire_facts(core, batch=1)  # a household a slice: the third family's is the second with a vehicle
    stopped = by_household(await snapshot(core))
    done, untouched = by_household(expected), by_household(before)
    assert [stopped[h] == done[h] for h in households] == [True, True, False, False, False, False]
    assert [stopped[h] == untouched[h] for h in households] == [False, False, True, True, True, True]

    monkeypatch.setattr(exchange_expiry, "_vehicles", real)
    first_two = sum(1 for r in before["facts"] if r["household_id"] in households[:2]) - sum(
        1 for r in expected["facts"] if r["household_id"] in households[:2])
    assert await expire_facts(core, batch=1) == count - first_two
    assert said(await snapshot(core)) == said(expected)


async def test_an_agency_batch_goes_in_between_two_slices_and_what_it_sent_counts(
        core: Core, clock, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ingest lock is held for a slice, not for the run; a value sent meanwhile is not retired."""
    households, people = await build_registry(core, odd=False)
    clock.set(LATER)
    d = people[3][0]
    fresh = record(d, "bank.balance", 5_000_000, LATER.isoformat(), "ACC1")  # replaces the lapsing ACC1
    real_uow, opened, sent = core.uow, [], []

    class Between:
        def __init__(self, **options: bool) -> None:
            self.options = options

        async def __aenter__(self) -> Any:
            opened.append(self.options)
            if len(opened) == 2:  # the first slice has committed, the second not begun
                async with real_uow(write=True) as uow:
                    sent.append(await asyncio.wait_for(ingest(uow, [fresh]), 10))
                    await uow.commit()
            self.inner = real_uow(**self.options)
            return await self.inner.__aenter__()

        async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                            tb: TracebackType | None) -> None:
            await self.inner.__aexit__(kind, exc, tb)

    monkeypatch.setattr(core, "uow", Between)
    assert await expire_facts(core, batch=1) == 21  # 22 lapsed, but the balance is new now
    assert (sent[0].accepted, sent[0].superseded) == (1, 1)
    monkeypatch.undo()
    async with core.uow() as uow:
        s = uow.session
        person = await s.scalar(select(Person.id).where(Person.pinfl == d))
        assert await s.scalar(select(BankBalance.amount).where(BankBalance.person_id == person)) == 8_000_000
        statuses = dict((await s.execute(select(ExchangeRecord.agency_record_id, ExchangeRecord.status)
                                         .where(ExchangeRecord.pinfl == d, ExchangeRecord.item == "bank.balance"))).all())
        assert sorted(statuses.values()) == ["current", "current", "superseded"]
        assert statuses[fresh["record_id"]] == "current"


async def test_a_value_applied_where_no_statement_recomputes_goes_through_apply(
        core: Core, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalogue item applied to a table this module does not recompute lapses as ingest applies
    it: through ``_apply``, with the facts left."""
    notebook = ItemSpec(agency="mahalla", item="mahalla.iron_notebook", meaning="In the Iron notebook",
                        type="bool", unit=None, valid_days=180, key=None, applies={"table": "notebook_memberships"})
    wider = catalogue_with(notebook)
    for module in (exchange, exchange_expiry):
        monkeypatch.setattr(module, "load_catalogue", lambda: wider)
    real, seen = exchange._apply, []

    async def spy(uow: Any, catalogue: Catalogue, changed: list[AgencyRecord], persons: Any, facts: Any) -> None:
        seen.append((changed, dict(persons), {p: set(f) for p, f in facts.items()}))
        await real(uow, catalogue, changed, persons, facts)

    hid, head = await make_family(core)
    await ingest(core, [record(head, "mahalla.iron_notebook", True, on(180, lapsed=True)),
                        record(head, "soliq.wage", 100_000, on(120, lapsed=False), "2026-09/301234567")])
    monkeypatch.setattr(exchange, "_apply", spy)
    clock.set(LATER)
    assert await expire_facts(core) == 1
    async with core.uow() as uow:
        pid = await uow.session.scalar(select(Person.id).where(Person.pinfl == head))
        rid = await uow.session.scalar(select(ExchangeRecord.agency_record_id)
                                       .where(ExchangeRecord.item == "mahalla.iron_notebook"))
    assert seen == [([AgencyRecord("mahalla", "mahalla.iron_notebook", head, None, LATER, str(rid))],
                     {head: (pid, hid)}, {head: {"soliq.wage|2026-09/301234567"}})]


async def test_a_run_finished_today_spares_the_next_ones_the_walk_until_the_day_or_a_validity_changes(
        core: Core, clock, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values lapse as days pass, never within one (a value lapsed on arrival is not a fact): after a
    finished run, the rest of the day's runs (every ``spsr assess``, the server's timer) skip the walk
    over every fact; the next day, or a catalogue whose validities changed, walks again."""
    await build_registry(core, odd=False)
    real, walks = exchange_expiry._slice_end, []

    async def counted(*args: Any) -> Any:
        walks.append(args)
        return await real(*args)

    monkeypatch.setattr(exchange_expiry, "_slice_end", counted)
    clock.set(LATER)
    assert await expire_facts(core) == 22
    first = len(walks)
    assert first > 0
    assert await expire_facts(core) == 0
    assert len(walks) == first  # not walked again today
    async with core.uow() as uow:
        runs = (await uow.session.execute(select(ExpiryRun.day, ExpiryRun.retired).order_by(ExpiryRun.id))).all()
    assert runs == [(LATER, 22)]

    shorter = catalogue_with(EXTRA, ItemSpec(**{**vars_of(catalogue.items["soliq.wage"]), "valid_days": 30}))
    for module in (exchange, exchange_expiry):
        monkeypatch.setattr(module, "load_catalogue", lambda: shorter)
    await expire_facts(core)
    assert len(walks) > first  # the validities changed: walked again the same day
    second = len(walks)
    clock.set(LATER + dt.timedelta(days=1))
    await expire_facts(core)
    assert len(walks) > second  # a new day


def vars_of(spec: ItemSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in ItemSpec.__dataclass_fields__}
