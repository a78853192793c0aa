"""The batch ingest as it was before it went set-based (a statement per row, every fact of each
person read), kept verbatim as the reference the set-based one is compared against
(``test_exchange_reference``). Not used by the registry."""

# ruff: noqa
# mypy: ignore-errors

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update

from core.errors import InvalidInput
from core.exchange import MAX_BATCH, AgencyRecord, Catalogue, ItemSpec, is_lapsed, load_catalogue, validate_record
from core.services import families
from core.services.exchange import INGEST_LOCK, IngestResult, _FactRow, _month, _settle_repeats, _split, _table
from core.services.exchange_totals import Totals, _month as _totals_month
from core.storage.in_lists import in_chunks
from core.storage.locks import transaction_lock
from core.storage.schema import BankBalance, ExchangeRecord, Fact, Household, Income, Person, Property, Vehicle
from core.storage.uow import Actor, UnitOfWork


class _Totals(Totals):
    @classmethod
    async def load(cls, session: AsyncSession, catalogue: Catalogue, records: Iterable[AgencyRecord],
                   persons: Mapping[str, tuple[int, int]],
                   facts: Mapping[str, Mapping[str, _Fact]]) -> Totals:
        """The stored rows of the households that ``records`` would change."""
        totals = cls(catalogue, persons, facts)
        incomes: set[int] = set()
        banks: set[int] = set()
        for rec in records:
            table = catalogue.items[rec.item].table
            if table == "incomes":
                incomes.add(persons[rec.pinfl][1])
            elif table == "bank_balances":
                banks.add(persons[rec.pinfl][1])
        for chunk in in_chunks(sorted(incomes)):
            for pid, hid, month, source, amount in await session.execute(
                    select(Income.person_id, Income.household_id, Income.month, Income.source, Income.amount)
                    .where(Income.household_id.in_(chunk))):
                totals._add(("incomes", pid, _totals_month(month), source), ("incomes", hid, _totals_month(month)), int(amount))
        for chunk in in_chunks(sorted(banks)):
            for owner, hid, balance in await session.execute(
                    select(BankBalance.person_id, BankBalance.household_id, BankBalance.amount)
                    .where(BankBalance.household_id.in_(chunk))):
                totals._add(("bank", owner), ("bank", hid), int(balance))
        return totals



async def reference_ingest(uow: UnitOfWork, records: Sequence[Any], actor: Actor) -> IngestResult:
    if len(records) > MAX_BATCH:
        raise InvalidInput("exchange.batch_too_large", size=len(records), limit=MAX_BATCH)
    catalogue = load_catalogue()
    today = uow.today()
    result = IngestResult()
    valid: list[tuple[int, AgencyRecord]] = []
    first: dict[tuple[str, str], tuple[int, AgencyRecord]] = {}
    repeats: list[tuple[int, int]] = []  # (index, index of the same record earlier in the batch)
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
    # Whoever holds the lock has committed what this batch is about to read, or has not begun.
    await transaction_lock(uow.session, INGEST_LOCK)
    # Stamped once the lock is held: an assessment range that read this batch's households before
    # it (under a shared hold) has committed, so its decisions are older than this stamp.
    now = uow.now()
    await _store(uow, catalogue, valid, result, now, actor)
    _settle_repeats(result, repeats)
    return result



async def _store(uow: UnitOfWork, catalogue: Catalogue, valid: list[tuple[int, AgencyRecord]],
                 result: IngestResult, now: dt.datetime, actor: Actor) -> None:
    today = uow.today()
    s = uow.session
    # Who each PINFL is.
    pinfls = sorted({r.pinfl for _, r in valid})
    persons: dict[str, tuple[int, int]] = {}
    for chunk in in_chunks(pinfls):
        rows = await s.execute(select(Person.pinfl, Person.id, Person.household_id).where(Person.pinfl.in_(chunk)))
        persons.update({p: (pid, hid) for p, pid, hid in rows})
    # Records already held under the same agency record ids.
    held: dict[tuple[str, str], tuple[str, str, dict[str, Any], dt.date]] = {}
    by_agency: dict[str, list[str]] = defaultdict(list)
    for _, r in valid:
        by_agency[r.agency].append(r.record_id)
    for agency, ids in by_agency.items():
        for chunk in in_chunks(ids):
            held_records = await s.execute(
                select(ExchangeRecord.agency_record_id, ExchangeRecord.item, ExchangeRecord.pinfl,
                       ExchangeRecord.value, ExchangeRecord.as_of)
                .where(ExchangeRecord.agency == agency, ExchangeRecord.agency_record_id.in_(chunk)))
            held.update({(agency, rid): (item, pinfl, value, as_of)
                         for rid, item, pinfl, value, as_of in held_records})

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
    facts: dict[str, dict[str, _FactRow]] = defaultdict(dict)
    fresh_pinfls = sorted({r.pinfl for _, r in fresh})
    for chunk in in_chunks(fresh_pinfls):
        fact_rows = await s.execute(
            select(Fact.pinfl, Fact.item, Fact.value, Fact.agency, Fact.agency_record_id, Fact.as_of,
                   Fact.received_at).where(Fact.pinfl.in_(chunk)))
        for pinfl, item, value, agency, rid, as_of, received in fact_rows:
            facts[pinfl][item] = _FactRow(value.get("value"), agency, rid, as_of, received)

    statuses: dict[tuple[str, str], str] = {}
    displaced: list[tuple[str, str]] = []  # held records that are no longer current
    changed: dict[tuple[str, str], AgencyRecord] = {}
    totals = await _Totals.load(s, catalogue, (r for _, r in fresh), persons, facts)
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

    await s.execute(insert(ExchangeRecord), [
        {"agency": r.agency, "agency_record_id": r.record_id, "item": r.item, "pinfl": r.pinfl,
         "value": r.stored_value(), "as_of": r.as_of, "received_at": now,
         "status": statuses[(r.agency, r.record_id)]} for _, r in fresh])
    table = _table(ExchangeRecord)
    if displaced:
        await s.execute(
            update(table).where(and_(table.c.agency == bindparam("a"), table.c.agency_record_id == bindparam("r")))
            .values(status="superseded"),
            [{"a": a, "r": r} for a, r in displaced])
    if changed:
        ftable = _table(Fact)
        await s.execute(
            delete(ftable).where(and_(ftable.c.pinfl == bindparam("p"), ftable.c.item == bindparam("i"))),
            [{"p": p, "i": i} for p, i in changed])
        # Each fact names the exchange record it came from (written just above).
        record = (select(ExchangeRecord.id).where(ExchangeRecord.agency == bindparam("b_agency"),
                                                  ExchangeRecord.agency_record_id == bindparam("b_record"))
                  .scalar_subquery())
        await s.execute(insert(Fact).values(record_id=record), [
            {"pinfl": r.pinfl, "item": r.fact_item, "household_id": persons[r.pinfl][1],
             "value": {"value": r.value}, "agency": r.agency, "agency_record_id": r.record_id,
             "as_of": r.as_of, "received_at": now, "b_agency": r.agency, "b_record": r.record_id}
            for r in changed.values()])
        await _apply(uow, catalogue, list(changed.values()), persons, facts)
        # Last: the batch's rows are all written where each member was, and move with them.
        moved = await families.move_members(s, placement, catalogue, changed.values(), persons, today)
        households = sorted({persons[r.pinfl][1] for r in changed.values()} | moved)
        for household_ids in in_chunks(households):
            await s.execute(update(Household).where(Household.id.in_(household_ids)).values(data_changed_at=now))
    uow.audit(actor, "exchange.ingested", "exchange", actor.id, accepted=result.accepted,
              superseded=result.superseded, stale=result.stale, expired=result.expired,
              unchanged=result.unchanged, rejected=len(result.rejected), born=len(placement.newborns))



async def _apply(
    uow: UnitOfWork,
    catalogue: Catalogue,
    changed: list[AgencyRecord],
    persons: Mapping[str, tuple[int, int]],
    facts: Mapping[str, Mapping[str, _FactRow]],
) -> None:
    """Write what changed to the registry tables eligibility reads, recomputed from the facts."""
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
        t = _table(Income)
        await s.execute(delete(t).where(and_(t.c.person_id == bindparam("pid"), t.c.month == bindparam("m"),
                                             t.c.source == bindparam("src"))),
                        [{"pid": persons[p][0], "m": _month(m), "src": src} for p, m, src in sums])
        await s.execute(insert(Income), [
            {"household_id": persons[p][1], "person_id": persons[p][0], "month": _month(m), "source": src,
             "amount": total, "agency": ",".join(sorted(agencies))[:40]}
            for (p, m, src), (total, agencies) in sums.items()])

    if vehicles:
        t = _table(Vehicle)
        await s.execute(delete(t).where(and_(t.c.person_id == bindparam("pid"), t.c.plate == bindparam("pl"))),
                        [{"pid": persons[p][0], "pl": plate} for p, plate in vehicles])
        rows = []
        for pinfl, plate in vehicles:
            held = facts[pinfl].get(f"yhxbb.vehicle|{plate}")
            gone = facts[pinfl].get(f"yhxbb.vehicle_deregistered|{plate}")
            if held is None or (gone is not None and gone.as_of >= held.as_of):
                continue
            rows.append({"household_id": persons[pinfl][1], "person_id": persons[pinfl][0],
                         "kind": held.value["kind"], "year": held.value["year"],
                         "roadworthy": held.value["roadworthy"], "plate": plate})
        if rows:
            await s.execute(insert(Vehicle), rows)

    if properties:
        t = _table(Property)
        await s.execute(delete(t).where(and_(t.c.person_id == bindparam("pid"), t.c.cadastre_number == bindparam("c"),
                                             t.c.kind == bindparam("k"))),
                        [{"pid": persons[p][0], "c": c, "k": k} for p, c, k in properties])
        rows = [{"household_id": persons[p][1], "person_id": persons[p][0], "kind": k, "cadastre_number": c}
                for p, c, k in properties
                if (held := facts[p].get(f"kadastr.{k}_property|{c}")) is not None and held.value is True]
        if rows:
            await s.execute(insert(Property), rows)

    if banks:
        t = _table(BankBalance)
        await s.execute(delete(t).where(t.c.person_id == bindparam("pid")),
                        [{"pid": persons[p][0]} for p in banks])
        rows = []
        for pinfl in banks:
            held_rows = [row for fact_item, row in facts[pinfl].items()
                         if (bank_spec := specs.get(_split(fact_item)[0])) is not None
                         and bank_spec.table == "bank_balances"]
            if held_rows:
                rows.append({"household_id": persons[pinfl][1], "person_id": persons[pinfl][0],
                             "amount": sum(int(r.value) for r in held_rows),
                             "as_of": max(r.as_of for r in held_rows)})
        if rows:
            await s.execute(insert(BankBalance), rows)

    for pinfl, spec, value in person_updates:
        assert spec.applies is not None
        pid = persons[pinfl][0]
        if spec.applies["column"] == "household_id":
            continue  # moved by ``families.move_members``; a lapsed membership moves no one back
        if spec.applies["column"] == "birth_date":
            if isinstance(value, dict):  # a lapsed birth (no value) leaves the birth date as it is
                await s.execute(update(Person).where(Person.id == pid).values(
                    birth_date=dt.date.fromisoformat(value["birth_date"])))
        elif spec.applies["column"] == "disability":
            await s.execute(update(Person).where(Person.id == pid).values(disability=None if value == "none" else value))
        elif spec.applies["column"] == "died_on":
            await s.execute(update(Person).where(Person.id == pid).values(
                died_on=None if value is None else dt.date.fromisoformat(str(value))))
        elif value:
            await s.execute(update(Person).where(Person.id == pid).values(service_body=spec.applies["body"]))
        else:
            await s.execute(update(Person).where(Person.id == pid, Person.service_body == spec.applies["body"])
                            .values(service_body=None))


