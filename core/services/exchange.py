"""Data exchange: agency records in, validated against the catalogue, kept with provenance and
applied to the registry tables eligibility reads — idempotently, in one transaction per batch.

Counting (``IngestResult``):

- ``accepted``: new records stored (their provenance is kept in ``exchange_records``), including
  ``stale`` ones;
- ``superseded``: earlier values (held before, or earlier in the same batch) a newer record
  replaced;
- ``stale``: accepted records older than the value in force: kept, never applied;
- ``expired``: accepted records already past their item's validity (``valid_days`` after their
  as-of date): kept for their provenance, marked ``expired``, never applied;
- ``unchanged``: exact repeats of a record already held (same agency and record id, same content),
  or of one earlier in the same batch: a batch means the same however a file is cut into batches;
- ``rejected``: ``(index in the batch, reason code, params)``; nothing of a rejected record is
  written.

A value's as-of date decides: a newer one supersedes, an older one never overwrites; on the same
as-of date the record received later wins. Whatever a batch applies, it applies together: a
failure rolls the whole batch back. Batches are applied one at a time (a lock taken inside each
batch's transaction), so the same batch sent twice at once is stored once and answered
``unchanged`` the second time, never refused by the database.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput
from core.exchange import (
    MAX_BATCH,
    AgencyRecord,
    Catalogue,
    ItemSpec,
    Mirrored,
    balance_as_of,
    balance_record,
    disability_record,
    income_record,
    is_lapsed,
    load_catalogue,
    mirror_as_of,
    property_record,
    service_record,
    validate_record,
    vehicle_record,
)
from core.services import families
from core.services.exchange_expiry import EXPIRE_BATCH as EXPIRE_BATCH
from core.services.exchange_expiry import EXPIRY as EXPIRY
from core.services.exchange_expiry import expire_facts as expire_facts
from core.services.exchange_totals import Totals
from core.services.family_events import family_events
from core.storage.bulk_rows import (
    delete_rows,
    insert_rows,
    rows_by_prefix,
    rows_matching,
    rows_where_in,
    update_rows,
)
from core.storage.in_lists import in_chunks
from core.storage.locks import INGEST, transaction_lock
from core.storage.schema import (
    BankBalance,
    Base,
    ExchangeRecord,
    Fact,
    Household,
    Income,
    Person,
    Property,
    Vehicle,
)
from core.storage.uow import Actor, Core, UnitOfWork

EXCHANGE_SERVICE_ERROR_CODES: tuple[str, ...] = (
    "exchange.unknown_pinfl",
    "exchange.duplicate_in_batch",
    "exchange.record_id_reused",
    "exchange.total_too_large",
    "exchange.batch_too_large",
    *families.FAMILY_ERROR_CODES,
)
INGEST_LOCK = INGEST


@dataclass
class IngestResult:
    accepted: int = 0
    superseded: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    stale: int = 0
    expired: int = 0
    # The indexes in the batch of the records counted under each name.
    unchanged_at: list[int] = field(default_factory=list)
    stale_at: list[int] = field(default_factory=list)
    expired_at: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "superseded": self.superseded, "unchanged": self.unchanged,
                "stale": self.stale, "expired": self.expired,
                "rejected": [{"index": i, "code": c, "params": p} for i, c, p in self.rejected],
                "unchanged_indexes": self.unchanged_at, "stale_indexes": self.stale_at,
                "expired_indexes": self.expired_at}

    def renumber(self, positions: Sequence[int]) -> None:
        """Indexes into the list that was ingested → indexes into the request it was drawn from."""
        self.rejected = [(positions[i], c, p) for i, c, p in self.rejected]
        for name in ("unchanged_at", "stale_at", "expired_at"):
            setattr(self, name, [positions[i] for i in getattr(self, name)])


@dataclass
class _FactRow:
    value: Any
    agency: str
    record_id: str
    as_of: dt.date
    received_at: dt.datetime


async def ingest(target: Core | UnitOfWork, records: Sequence[Any], actor: Actor | None = None) -> IngestResult:
    """Validate, store and apply a batch of up to 10,000 agency records.

    Given a ``Core``, runs in its own unit of work and commits; given a ``UnitOfWork``, works in
    it and leaves the commit to the caller.
    """
    actor = actor or Actor("agency", "exchange", "api")
    if isinstance(target, Core):
        # Checked before the unit of work opens: the checks read nothing stored, and on SQLite
        # the unit of work holds the database's one write lock from its start, so a batch being
        # checked would keep every other batch (and every other writer) waiting for nothing.
        checked = _check(records, target.clock.today())
        # write=True: SQLite's write lock from the start, so two batches never read the same state.
        async with target.uow(write=True) as uow:
            result = await _ingest_checked(uow, checked, actor)
            await uow.commit()
        return result
    return await _ingest_checked(target, _check(records, target.today()), actor)


@dataclass
class _Checked:
    """A batch's records checked one by one: the result so far, the valid ones, and the repeats."""

    result: IngestResult
    valid: list[tuple[int, AgencyRecord]]
    repeats: list[tuple[int, int]]  # (index, index of the same record earlier in the batch)


def _check(records: Sequence[Any], today: dt.date) -> _Checked:
    if len(records) > MAX_BATCH:
        raise InvalidInput("exchange.batch_too_large", size=len(records), limit=MAX_BATCH)
    catalogue = load_catalogue()
    result = IngestResult()
    valid: list[tuple[int, AgencyRecord]] = []
    first: dict[tuple[str, str], tuple[int, AgencyRecord]] = {}
    repeats: list[tuple[int, int]] = []
    for index, raw in enumerate(records):
        try:
            rec = validate_record(raw, today, catalogue)
        except InvalidInput as exc:
            result.rejected.append((index, exc.code, exc.params))
            continue
        ident = (rec.agency, rec.record_id)
        earlier = first.get(ident)
        if earlier is not None:
            if earlier[1] == rec:  # sent twice: one record, as if sent in two batches
                repeats.append((index, earlier[0]))
            else:
                result.rejected.append((index, "exchange.duplicate_in_batch", {"record_id": rec.record_id}))
            continue
        first[ident] = (index, rec)
        valid.append((index, rec))
    return _Checked(result, valid, repeats)


async def _ingest_checked(uow: UnitOfWork, checked: _Checked, actor: Actor) -> IngestResult:
    # Whoever holds the lock has committed what this batch is about to read, or has not begun.
    # What the batch reads (who each PINFL is, the records and facts held) is read under it: read
    # before, it could be changed by a batch committing meanwhile, and checking that it was not
    # would read it again.
    await transaction_lock(uow.session, INGEST_LOCK)
    # Stamped once the lock is held: an assessment range that read this batch's households before
    # it (under a shared hold) has committed, so its decisions are older than this stamp.
    now = uow.now()
    result = checked.result
    await _store(uow, load_catalogue(), checked.valid, result, now, actor)
    _settle_repeats(result, checked.repeats)
    return result


def _settle_repeats(result: IngestResult, repeats: list[tuple[int, int]]) -> None:
    """A repeat shares its first's fate: refused alike, or else unchanged (the first is stored)."""
    if not repeats:
        return
    refused = {i: (code, params) for i, code, params in result.rejected}
    for index, earlier in repeats:
        if earlier in refused:
            result.rejected.append((index, *refused[earlier]))
        else:
            result.unchanged += 1
            result.unchanged_at.append(index)
    result.rejected.sort(key=lambda r: r[0])
    result.unchanged_at.sort()


async def _store(uow: UnitOfWork, catalogue: Catalogue, valid: list[tuple[int, AgencyRecord]],
                 result: IngestResult, now: dt.datetime, actor: Actor) -> None:
    today = uow.today()
    s = uow.session
    # Who each PINFL is.
    pinfls = sorted({r.pinfl for _, r in valid})
    persons: dict[str, tuple[int, int]] = {p: (pid, hid) for p, pid, hid in await rows_where_in(
        s, select(Person.pinfl, Person.id, Person.household_id), Person.pinfl, pinfls)}
    # Records already held under the same agency record ids.
    records_t = _table(ExchangeRecord)
    held: dict[tuple[str, str], tuple[str, str, dict[str, Any], dt.date]] = {
        (agency, rid): (item, pinfl, value, as_of)
        for agency, rid, item, pinfl, value, as_of in await rows_matching(
            s, records_t, ("agency", "agency_record_id", "item", "pinfl", "value", "as_of"),
            [{"agency": r.agency, "agency_record_id": r.record_id} for _, r in valid])}

    fresh: list[tuple[int, AgencyRecord]] = []
    for index, rec in valid:
        # A birth names a child the registry may not hold yet: ``families.place`` decides.
        if rec.pinfl not in persons and not families.is_birth(catalogue, rec):
            result.rejected.append((index, "exchange.unknown_pinfl", {"pinfl": rec.pinfl[:4] + "…" + rec.pinfl[-2:]}))
            continue
        before = held.get((rec.agency, rec.record_id))
        if before is not None:
            if before == (rec.item, rec.pinfl, rec.stored_value(), rec.as_of):
                result.unchanged += 1
                result.unchanged_at.append(index)
            else:
                result.rejected.append((index, "exchange.record_id_reused", {"record_id": rec.record_id}))
            continue
        fresh.append((index, rec))
    placement = await families.place(s, catalogue, fresh, persons, today)
    if placement.refused:
        result.rejected.extend(placement.refused)
        refused = placement.refused_at
        fresh = [(i, r) for i, r in fresh if i not in refused]
    result.rejected.sort(key=lambda r: r[0])
    if not fresh:
        return
    await families.add_newborns(s, placement, persons)

    # The facts in force for these persons.
    facts = await _facts_of(s, catalogue, (r for _, r in fresh))

    statuses: dict[tuple[str, str], str] = {}
    displaced: list[tuple[str, str]] = []  # held records that are no longer current
    changed: dict[tuple[str, str], AgencyRecord] = {}
    totals = await Totals.load(s, catalogue, (r for _, r in fresh), persons, facts)
    over: set[int] = set()  # indexes refused: their household's sum would pass the limit
    for index, rec in sorted(fresh, key=lambda p: (p[1].as_of, p[0])):
        current = facts[rec.pinfl].get(rec.fact_item)
        if is_lapsed(catalogue.items[rec.item], rec.as_of, today):
            # Kept as sent (its provenance), but it says nothing about today.
            statuses[(rec.agency, rec.record_id)] = "expired"
            result.expired += 1
            result.expired_at.append(index)
            continue
        if current is not None and rec.as_of < current.as_of:
            statuses[(rec.agency, rec.record_id)] = "stale"
            result.stale += 1
            result.stale_at.append(index)
            continue
        refusal = totals.admit(rec, current)
        if refusal is not None:
            over.add(index)
            result.rejected.append((index, refusal.code, refusal.params))
            continue
        if current is not None:
            result.superseded += 1
            ident = (current.agency, current.record_id)
            if ident in statuses:
                statuses[ident] = "superseded"
            else:
                displaced.append(ident)
        statuses[(rec.agency, rec.record_id)] = "current"
        facts[rec.pinfl][rec.fact_item] = _FactRow(rec.value, rec.agency, rec.record_id, rec.as_of, now)
        changed[(rec.pinfl, rec.fact_item)] = rec
    if over:
        fresh = [(i, r) for i, r in fresh if i not in over]
        result.rejected.sort(key=lambda r: r[0])
    result.stale_at.sort()
    result.expired_at.sort()
    result.accepted = len(fresh)
    if not fresh:
        return

    # Each fact names the exchange record it came from: the ids come back from the insert.
    record_ids = {(agency, rid): record_id for record_id, agency, rid in await insert_rows(s, records_t, [
        {"agency": r.agency, "agency_record_id": r.record_id, "item": r.item, "pinfl": r.pinfl,
         "value": r.stored_value(), "as_of": r.as_of, "received_at": now,
         "status": statuses[(r.agency, r.record_id)]} for _, r in fresh], returning=("id", "agency", "agency_record_id"))}
    await update_rows(s, records_t, [{"agency": a, "agency_record_id": r} for a, r in displaced],
                      ("agency", "agency_record_id"), {"status": "superseded"})
    if changed:
        # The value in force replaced where one was held: one upsert, no delete and insert.
        await insert_rows(s, _table(Fact), [
            {"pinfl": r.pinfl, "item": r.fact_item, "household_id": persons[r.pinfl][1],
             "value": {"value": r.value}, "agency": r.agency, "agency_record_id": r.record_id,
             "as_of": r.as_of, "received_at": now, "record_id": record_ids[(r.agency, r.record_id)]}
            for r in changed.values()], conflict=("pinfl", "item"))
        await _apply(uow, catalogue, list(changed.values()), persons, facts)
        # Last: the batch's rows are all written where each member was, and move with them.
        moved = await families.move_members(s, placement, catalogue, changed.values(), persons, today)
        await families.replace_dead_heads(s, catalogue, changed.values(), persons, today)
        households = sorted({persons[r.pinfl][1] for r in changed.values()} | moved)
        await update_rows(s, _table(Household), [{"id": h} for h in households], ("id",), {"data_changed_at": now})
    uow.audit(actor, "exchange.ingested", "exchange", actor.id, accepted=result.accepted,
              superseded=result.superseded, stale=result.stale, expired=result.expired,
              unchanged=result.unchanged, rejected=len(result.rejected), born=len(placement.newborns))


def _prefixes(catalogue: Catalogue, rec: AgencyRecord) -> tuple[str, ...]:
    """The fact items a record's ingest reads, as prefixes: its own, and the others its stored row
    is the sum of (a month's incomes of its source, a person's balances) or depends on (a plate's
    deregistration). A prefix may take a few more (harmless: only these are looked at)."""
    spec = catalogue.items[rec.item]
    if spec.table == "incomes" and spec.applies is not None and rec.key is not None:
        return tuple(f"{s.item}|{rec.key[:7]}" for s in catalogue.items_for_table("incomes")
                     if s.applies is not None and s.applies["source"] == spec.applies["source"])
    if spec.table == "bank_balances":
        return tuple(f"{s.item}|" for s in catalogue.items_for_table("bank_balances"))
    if spec.table == "vehicles":
        return tuple(f"{s.item}|{rec.key}" for s in catalogue.items_for_table("vehicles"))
    return (rec.fact_item,)


async def _facts_of(s: AsyncSession, catalogue: Catalogue,
                    records: Iterable[AgencyRecord]) -> dict[str, dict[str, _FactRow]]:
    """The facts in force that ingesting ``records`` reads (not every fact of their persons: a
    worker's wage of one month needs none of their other months), by PINFL and fact item."""
    wanted = sorted({(r.pinfl, prefix) for r in records for prefix in _prefixes(catalogue, r)})
    facts: dict[str, dict[str, _FactRow]] = defaultdict(dict)
    for pinfl, item, value, agency, rid, as_of, received in await rows_by_prefix(
            s, _table(Fact), ("pinfl", "item", "value", "agency", "agency_record_id", "as_of", "received_at"),
            "pinfl", "item", wanted):
        facts[pinfl][item] = _FactRow(value.get("value"), agency, rid, as_of, received)
    return facts


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _split(fact_item: str) -> tuple[str, str | None]:
    item, _, key = fact_item.partition("|")
    return item, key or None


async def _apply(
    uow: UnitOfWork,
    catalogue: Catalogue,
    changed: list[AgencyRecord],
    persons: Mapping[str, tuple[int, int]],
    facts: Mapping[str, Mapping[str, _FactRow]],
) -> None:
    """Write what changed to the registry tables eligibility reads, recomputed from the facts:
    one set-based statement per table and kind of change."""
    s = uow.session
    specs = catalogue.items
    incomes: set[tuple[str, str, str]] = set()  # pinfl, month, source
    vehicles: set[tuple[str, str]] = set()
    properties: set[tuple[str, str, str]] = set()
    banks: set[str] = set()
    person_updates: list[tuple[str, ItemSpec, Any]] = []
    for rec in changed:
        spec = specs[rec.item]
        table = spec.table
        if table == "incomes" and spec.applies is not None and rec.key is not None:
            incomes.add((rec.pinfl, rec.key[:7], spec.applies["source"]))
        elif table == "vehicles" and rec.key is not None:
            vehicles.add((rec.pinfl, rec.key))
        elif table == "properties" and spec.applies is not None and rec.key is not None:
            properties.add((rec.pinfl, rec.key, spec.applies["kind"]))
        elif table == "bank_balances":
            banks.add(rec.pinfl)
        elif table == "persons":
            person_updates.append((rec.pinfl, spec, rec.value))

    if incomes:
        sums: dict[tuple[str, str, str], tuple[int, set[str]]] = {}
        for pinfl, month, source in incomes:
            total, agencies = 0, set()
            for fact_item, row in facts[pinfl].items():
                item, key = _split(fact_item)
                income_spec = specs.get(item)
                if (income_spec is not None and income_spec.table == "incomes" and income_spec.applies is not None
                        and income_spec.applies["source"] == source and key is not None and key[:7] == month):
                    total += int(row.value)
                    agencies.add(row.agency)
            sums[(pinfl, month, source)] = (total, agencies)
        # A person's row of a month and source, replaced where held.
        await insert_rows(s, _table(Income), [
            {"household_id": persons[p][1], "person_id": persons[p][0], "month": _month(m), "source": src,
             "amount": total, "agency": ",".join(sorted(agencies))[:40]}
            for (p, m, src), (total, agencies) in sums.items()], conflict=("person_id", "month", "source"))

    if vehicles:
        t = _table(Vehicle)
        await delete_rows(s, t, [{"person_id": persons[p][0], "plate": plate} for p, plate in vehicles])
        rows = []
        for pinfl, plate in vehicles:
            held = facts[pinfl].get(f"yhxbb.vehicle|{plate}")
            gone = facts[pinfl].get(f"yhxbb.vehicle_deregistered|{plate}")
            if held is None or (gone is not None and gone.as_of >= held.as_of):
                continue
            rows.append({"household_id": persons[pinfl][1], "person_id": persons[pinfl][0],
                         "kind": held.value["kind"], "year": held.value["year"],
                         "roadworthy": held.value["roadworthy"], "plate": plate})
        await insert_rows(s, t, rows)

    if properties:
        t = _table(Property)
        await delete_rows(s, t, [{"person_id": persons[p][0], "cadastre_number": c, "kind": k}
                                 for p, c, k in properties])
        await insert_rows(s, t, [
            {"household_id": persons[p][1], "person_id": persons[p][0], "kind": k, "cadastre_number": c}
            for p, c, k in properties
            if (held := facts[p].get(f"kadastr.{k}_property|{c}")) is not None and held.value is True])

    if banks:
        t = _table(BankBalance)
        await delete_rows(s, t, [{"person_id": persons[p][0]} for p in banks])
        rows = []
        for pinfl in banks:
            held_rows = [row for fact_item, row in facts[pinfl].items()
                         if (bank_spec := specs.get(_split(fact_item)[0])) is not None
                         and bank_spec.table == "bank_balances"]
            if held_rows:
                rows.append({"household_id": persons[pinfl][1], "person_id": persons[pinfl][0],
                             "amount": sum(int(r.value) for r in held_rows),
                             "as_of": max(r.as_of for r in held_rows)})
        await insert_rows(s, t, rows)

    if person_updates:
        await _update_persons(s, person_updates, persons)


async def _update_persons(s: AsyncSession, updates: list[tuple[str, ItemSpec, Any]],
                          persons: Mapping[str, tuple[int, int]]) -> None:
    """The persons columns the civil registry, VTEK and the security bodies say, a statement per column."""
    t = _table(Person)
    columns: dict[str, dict[int, Any]] = defaultdict(dict)  # column → person id → value (the last said)
    service: list[tuple[str, str, int]] = []  # ("set" | "clear", body, person id), in the batch's order
    for pinfl, spec, value in updates:
        assert spec.applies is not None
        pid = persons[pinfl][0]
        column = spec.applies["column"]
        if column == "household_id":
            continue  # moved by ``families.move_members``; a lapsed membership moves no one back
        if column == "birth_date":
            if isinstance(value, dict):  # a lapsed birth (no value) leaves the birth date as it is
                columns[column][pid] = dt.date.fromisoformat(value["birth_date"])
        elif column == "disability":
            columns[column][pid] = None if value == "none" else value
        elif column == "died_on":
            columns[column][pid] = None if value is None else dt.date.fromisoformat(str(value))
        else:
            service.append(("set" if value else "clear", spec.applies["body"], pid))
    for column, values in columns.items():
        await update_rows(s, t, [{"id": pid, column: v} for pid, v in values.items()], ("id",))
    # Several bodies write one column, and clearing one depends on what the last set: each run of
    # one kind in a statement, the runs in order.
    for (kind, body), run in itertools.groupby(service, key=lambda u: (u[0], u[1])):
        ids = list(dict.fromkeys(pid for _, _, pid in run))
        if kind == "set":
            await update_rows(s, t, [{"id": pid} for pid in ids], ("id",), {"service_body": body})
        else:
            await update_rows(s, t, [{"id": pid, "service_body": body} for pid in ids], ("id", "service_body"),
                              {"service_body": None})


def _expired_value(spec: ItemSpec) -> Any:
    """What a person's column reads once the value behind it has lapsed (no disability, not serving,
    no death on record)."""
    assert spec.applies is not None
    column = spec.applies.get("column")
    return "none" if column == "disability" else None if column == "died_on" else False


def _month(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[5:7]), 1)


async def provenance(uow: UnitOfWork, household_ids: Sequence[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """For each household, ``{"<pinfl>:<fact item>": {agency, record_id, as_of, received_at}}``."""
    out: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for chunk in in_chunks(list(household_ids)):
        rows = await uow.session.execute(
            select(Fact.household_id, Fact.pinfl, Fact.item, Fact.agency, Fact.agency_record_id, Fact.as_of,
                   Fact.received_at).where(Fact.household_id.in_(chunk)))
        for hid, pinfl, item, agency, rid, as_of, received in rows:
            if hid is None:
                continue
            out[hid][f"{pinfl}:{item}"] = {"agency": agency, "record_id": rid, "as_of": as_of.isoformat(),
                                           "received_at": received.isoformat()}
    return out


# --- synthetic agency records for a seeded registry (benchmarks, demos) ------------------------


async def generate_records(core: Core, out: Any, *, seed: int = 1140, share: float = 1.0,
                           limit: int | None = None, events: bool = True) -> int:
    """Write JSON lines of the agency records behind a (seeded) registry's own data, then (with
    ``events``) the civil registry's news since: a few births and moves.

    Each record of the first kind says what the registry already holds, as the agency would send
    it: the counted months' incomes (by source: wages keyed by a stable employer TIN), vehicles by
    plate, properties by cadastre number, bank balances by account, disability groups and service.
    Importing them changes no decision; it gives every value its provenance. The births and moves
    (``core.services.family_events``) change the families they name, once: imported again, they
    are unchanged. Streams each table in key order; deterministic; ``share`` keeps that fraction
    of households.
    """
    import json
    import random

    today = core.clock.today()
    months = _counted(today)
    as_of = mirror_as_of(today)
    balance_days = load_catalogue().items["bank.balance"].valid_days
    written = 0

    def keep(hid: int) -> bool:
        return share >= 1.0 or random.Random(seed * 1_000_003 + hid).random() < share

    def write(mirrored: Mirrored, pinfl: str, value: Any, on: dt.date = as_of) -> bool:
        nonlocal written
        item, key, rid = mirrored
        out.write(json.dumps({"agency": item.split(".")[0], "item": item, "pinfl": pinfl, "key": key,
                              "value": value, "as_of": on.isoformat(), "record_id": rid},
                             separators=(",", ":")) + "\n")
        written += 1
        return limit is not None and written >= limit

    async with core.uow() as uow:
        s = uow.session
        incomes = await s.stream(
            select(Income.household_id, Income.person_id, Person.pinfl, Income.month, Income.source,
                   func.sum(Income.amount))
            .join(Person, Person.id == Income.person_id).where(Income.month.in_(months))
            .group_by(Income.household_id, Income.person_id, Person.pinfl, Income.month, Income.source)
            .order_by(Income.person_id, Income.month, Income.source).execution_options(yield_per=10_000))
        async for hid, pid, pinfl, month, source, amount in incomes:
            income = income_record(pid, month, source)
            if income is not None and keep(hid) and write(income, pinfl, int(amount)):
                return written
        vehicles = await s.stream(
            select(Vehicle.id, Vehicle.household_id, Person.pinfl, Vehicle.year, Vehicle.roadworthy, Vehicle.kind,
                   Vehicle.plate).join(Person, Person.id == Vehicle.person_id)
            .order_by(Vehicle.id).execution_options(yield_per=10_000))
        async for vid, hid, pinfl, year, roadworthy, kind, plate in vehicles:
            if keep(hid) and write(vehicle_record(vid, plate), pinfl,
                                   {"year": year, "roadworthy": bool(roadworthy), "kind": kind}):
                return written
        properties = await s.stream(
            select(Property.id, Property.household_id, Person.pinfl, Property.kind, Property.cadastre_number)
            .join(Person, Person.id == Property.person_id).order_by(Property.id).execution_options(yield_per=10_000))
        async for prop_id, hid, pinfl, kind, cadastre in properties:
            if keep(hid) and write(property_record(prop_id, kind, cadastre), pinfl, True):
                return written
        balances = await s.stream(
            select(BankBalance.id, BankBalance.household_id, Person.pinfl, BankBalance.amount, BankBalance.as_of)
            .join(Person, Person.id == BankBalance.person_id).order_by(BankBalance.id)
            .execution_options(yield_per=10_000))
        async for bid, hid, pinfl, amount, on in balances:
            if keep(hid) and write(balance_record(bid), pinfl, int(amount), balance_as_of(on, today, balance_days)):
                return written
        people = await s.stream(
            select(Person.id, Person.household_id, Person.pinfl, Person.disability, Person.service_body)
            .where(or_(Person.disability.is_not(None), Person.service_body.is_not(None)))
            .order_by(Person.id).execution_options(yield_per=10_000))
        async for pid, hid, pinfl, disability, body in people:
            if not keep(hid):
                continue
            if disability is not None and write(disability_record(pid), pinfl, disability):
                return written
            service = service_record(pid, body)
            if service is not None and write(service, pinfl, True):
                return written
        if events:
            async for _, pinfl, record in family_events(s, today, as_of, seed, keep):
                if write((record["item"], None, record["record_id"]), pinfl, record["value"]):
                    return written
    return written


def _counted(today: dt.date) -> tuple[dt.date, ...]:
    from core.eligibility import income_months

    return income_months(today)
