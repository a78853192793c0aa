"""Value expiry: agency values past their item's validity stop counting, retired set-based in SQL.

A value lapses ``valid_days`` after its as-of date (``core.exchange.is_lapsed``). Facts are walked
in slices of a bounded number of facts: by the household they were filed under, then those filed
under none by PINFL. Each slice is one transaction under the ingest lock, so an agency's batch
waits for one slice at most, never for the whole run. In it the slice's lapsed facts are gathered
into a temporary table; they leave ``facts``, their records are marked ``expired``, the registry
tables eligibility reads are recomputed from the facts that remain (what ``exchange._apply``
writes after an ingest, here in SQL), and their households are stamped changed so that the next
``spsr assess`` re-decides them. A kill between slices leaves each slice done or not begun, and a
re-run finishes the job: a recomputation reads only what is left.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.exchange import AgencyRecord, Catalogue, load_catalogue
from core.storage.in_lists import in_chunks
from core.storage.locks import INGEST, transaction_lock
from core.storage.schema import ExpiryRun, Fact, Stamp
from core.storage.uow import Actor, Core, UnitOfWork

EXPIRY = Actor("system", "fact expiry", "system")
# Facts read per transaction: about 7,000 households' worth, a second or so of the ingest lock.
EXPIRE_BATCH = 50_000
# What the statements below recompute; a value applied anywhere else goes through ``_apply``.
RECOMPUTED_TABLES = ("incomes", "vehicles", "properties", "bank_balances")
RECOMPUTED_COLUMNS = ("disability", "died_on", "service_body")


async def expire_facts(core: Core, actor: Actor = EXPIRY, *, batch: int = EXPIRE_BATCH) -> int:
    """Values past their item's validity (``valid_days`` after their as-of date) stop counting.

    Each lapsed fact leaves the facts in force (its record stays in ``exchange_records`` marked
    ``expired``), the registry tables eligibility reads are recomputed from what is left, and the
    household is marked changed so that the next ``spsr assess`` re-decides it. Runs in slices of
    about ``batch`` facts read, one transaction each; returns how many facts lapsed.
    """
    catalogue = load_catalogue()
    validities = validities_digest(catalogue)
    async with core.uow() as uow:
        day = uow.today()
        if await uow.session.scalar(select(ExpiryRun.id).where(
                ExpiryRun.day == day, ExpiryRun.validities == validities).limit(1)) is not None:
            return 0  # a run finished today under these validities: nothing has lapsed since
    total = 0
    for by_household in (True, False):
        after: Any = None
        while True:
            async with core.uow(write=True) as uow:
                s = uow.session
                await transaction_lock(s, INGEST)  # stamps households changed, as a batch does
                sql = _Sql(s.get_bind().dialect.name, catalogue, uow.today())
                upto = await _slice_end(s, by_household, after, batch)
                where, params = _slice(by_household, after, upto)
                lapsed, households = await _retire(uow, sql, catalogue, where, params)
                if lapsed:
                    uow.audit(actor, "exchange.expired", "exchange", uow.today().isoformat(), facts=lapsed,
                              households=households)
                await uow.commit()
            total += lapsed
            if upto is None:
                break
            after = upto
    async with core.uow(write=True) as uow:
        # Dated by the day the run began on: past midnight, the new day's values are not all retired.
        uow.session.add(ExpiryRun(day=day, validities=validities, finished_at=uow.now(), retired=total))
        await uow.commit()
    return total


def validities_digest(catalogue: Catalogue) -> str:
    """What decides which values have lapsed on a day: each item's validity, as a digest."""
    items = sorted((spec.item, spec.valid_days) for spec in catalogue.items.values())
    return hashlib.sha256(repr(items).encode()).hexdigest()


async def _slice_end(s: AsyncSession, by_household: bool, after: Any, batch: int) -> Any:
    """The last household id (or PINFL) of the slice after ``after``; None: the slice runs to the end."""
    column = "household_id" if by_household else "pinfl"
    where = ["household_id IS NOT NULL" if by_household else "household_id IS NULL"]
    if after is not None:
        where.append(f"{column} > :after")
    return await s.scalar(text(f"SELECT {column} FROM facts WHERE {' AND '.join(where)} ORDER BY {column}"
                               " LIMIT 1 OFFSET :skip"), {"after": after, "skip": max(batch, 1) - 1})


def _slice(by_household: bool, after: Any, upto: Any) -> tuple[str, dict[str, Any]]:
    """The slice's facts (``f``) as a condition and its parameters: a whole household's (or person's)
    facts fall in one slice."""
    column = "f.household_id" if by_household else "f.pinfl"
    where = ["f.household_id IS NOT NULL" if by_household else "f.household_id IS NULL"]
    if after is not None:
        where.append(f"{column} > :after")
    if upto is not None:
        where.append(f"{column} <= :upto")
    return " AND ".join(where), {"after": after, "upto": upto}


@dataclass(frozen=True)
class _Sql:
    """The SQL both databases share, and the few expressions each spells its own way."""

    dialect: str
    catalogue: Catalogue
    today: dt.date

    @property
    def pg(self) -> bool:
        return self.dialect == "postgresql"

    def part(self, item: str) -> str:
        """A fact item's catalogue item: ``soliq.wage|2026-11/301234567`` → ``soliq.wage``."""
        return f"split_part({item}, '|', 1)" if self.pg else f"substr({item}, 1, instr({item} || '|', '|') - 1)"

    def key(self, item: str) -> str:
        """A fact item's key (what follows the first ``|``), NULL for an item without one."""
        find = "strpos" if self.pg else "instr"
        return f"NULLIF(substr({item}, {find}({item} || '|', '|') + 1), '')"

    def number(self, value: str) -> str:
        return f"CAST({value} ->> 'value' AS BIGINT)" if self.pg else f"CAST(json_extract({value}, '$.value') AS INTEGER)"

    def field(self, value: str, name: str, kind: str) -> str:
        """A field of an object value (a vehicle's year, roadworthy, kind)."""
        if self.pg:
            return f"CAST({value} -> 'value' ->> '{name}' AS {kind})"
        return f"json_extract({value}, '$.value.{name}')"

    def is_true(self, value: str) -> str:
        return f"{value} -> 'value' = 'true'::jsonb" if self.pg else f"json_type({value}, '$.value') = 'true'"

    def month(self, text_: str) -> str:
        """``YYYY-MM`` → the month's first day, as the incomes table keeps it."""
        return f"CAST({text_} || '-01' AS DATE)" if self.pg else f"{text_} || '-01'"

    def concat(self, value: str) -> str:
        return f"string_agg({value}, ',')" if self.pg else f"group_concat({value}, ',')"

    def sorted_text(self, value: str) -> str:
        """Text sorted by code point, as Python sorts it (SQLite's own collation does)."""
        return f'{value} COLLATE "C"' if self.pg else value

    def locator(self, table: str) -> str:
        """Where a row is stored: found again in the same transaction without an index (the ingest
        lock is held, so no batch moves it meanwhile)."""
        return f"{table}.ctid" if self.pg else f"{table}.rowid"

    def any_of(self, column: str, query: str) -> str:
        """``column IN (query)``; on PostgreSQL as ``= ANY(ARRAY(query))``, which the planner always
        answers from the column's index (the query runs once), where an IN may scan the whole table."""
        return f"{column} = ANY(ARRAY({query}))" if self.pg else f"{column} IN ({query})"

    def catalogue_cte(self) -> str:
        """The catalogue as a table: each item's first as-of date still valid today, and what it applies to."""
        rows = []
        for spec in self.catalogue.items.values():
            applies = spec.applies or {}
            cutoff = (self.today - dt.timedelta(days=spec.valid_days)).isoformat()
            cells = [_literal(spec.item), f"DATE '{cutoff}'" if self.pg else f"'{cutoff}'",
                     *(_literal(applies.get(name)) for name in ("table", "source", "kind", "column", "body"))]
            rows.append(f"({', '.join(cells)})")
        return f"cat (part, cutoff, tbl, source, kind, col, body) AS (VALUES {', '.join(rows)})"


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


EXPIRING_COLUMNS = ("locator {locator}, pinfl VARCHAR(14), item VARCHAR(60), agency VARCHAR(40), agency_record_id VARCHAR(80),"
                    " record_row BIGINT, person_id BIGINT, household_id BIGINT, part VARCHAR(60), fact_key VARCHAR(60),"
                    " tbl VARCHAR(40), source VARCHAR(40), kind VARCHAR(40), col VARCHAR(40), body VARCHAR(40)")
# The lapsed values of a kind, of persons the registry holds.
INCOME_KEYS = ("SELECT DISTINCT person_id, household_id, pinfl, substr(fact_key, 1, 7) AS month, source"
               " FROM expiring WHERE tbl = 'incomes' AND source IS NOT NULL AND fact_key IS NOT NULL"
               " AND person_id IS NOT NULL")
VEHICLE_KEYS = ("SELECT DISTINCT person_id, household_id, pinfl, fact_key AS plate FROM expiring"
                " WHERE tbl = 'vehicles' AND fact_key IS NOT NULL AND person_id IS NOT NULL")
PROPERTY_KEYS = ("SELECT DISTINCT person_id, household_id, pinfl, fact_key AS cadastre, kind FROM expiring"
                 " WHERE tbl = 'properties' AND kind IS NOT NULL AND fact_key IS NOT NULL AND person_id IS NOT NULL")
BANK_KEYS = ("SELECT DISTINCT person_id, household_id, pinfl FROM expiring"
             " WHERE tbl = 'bank_balances' AND person_id IS NOT NULL")


# PostgreSQL: a plan for each slice's bounds, never a generic one kept from the first five (the
# driver prepares statements); no JIT, whose compiling a slice's statements never repays.
# Sorts and hashes of a slice's rows stay in memory.
SLICE_SETTINGS = ("SET LOCAL plan_cache_mode = force_custom_plan", "SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")


async def _retire(uow: UnitOfWork, sql: _Sql, catalogue: Catalogue, where: str,
                  params: dict[str, Any]) -> tuple[int, int]:
    """Retire the slice's lapsed facts and recompute what they applied to; (facts, households)."""
    s = uow.session
    x = s.execute
    bounds = {k: v for k, v in params.items() if v is not None}
    if sql.pg:
        for setting in SLICE_SETTINGS:
            await x(text(setting))
        await x(text(f"CREATE TEMPORARY TABLE expiring ({EXPIRING_COLUMNS.format(locator='TID')}) ON COMMIT DROP"))
    else:
        await x(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS expiring ({EXPIRING_COLUMNS.format(locator='BIGINT')})"))
        await x(text("DELETE FROM expiring"))
    await x(text(
        f"WITH {sql.catalogue_cte()} INSERT INTO expiring (locator, pinfl, item, agency, agency_record_id, record_row,"
        " person_id, household_id, part, fact_key, tbl, source, kind, col, body)"
        f" SELECT {sql.locator('f')}, f.pinfl, f.item, f.agency, f.agency_record_id, f.record_id, p.id, p.household_id, c.part,"
        f" {sql.key('f.item')}, c.tbl, c.source, c.kind, c.col, c.body"
        " FROM facts f CROSS JOIN cat c LEFT JOIN persons p ON p.pinfl = f.pinfl"
        f" WHERE {where} AND c.part = {sql.part('f.item')} AND f.as_of < c.cutoff"), bounds)
    kinds = (await x(text("SELECT tbl, col, COUNT(*), COUNT(record_row) FROM expiring GROUP BY tbl, col"))).all()
    lapsed = sum(n for _, _, n, _ in kinds)
    if not lapsed:
        if not sql.pg:
            await x(text("DROP TABLE temp.expiring"))
        return 0, 0
    tables = {tbl for tbl, _, _, _ in kinds}
    columns = {col for tbl, col, _, _ in kinds if tbl == "persons"}

    await x(text(f"DELETE FROM facts WHERE {sql.any_of(sql.locator('facts'), 'SELECT locator FROM expiring')}"))
    # A fact names its record; one that does not is matched by agency and record id.
    await x(text("UPDATE exchange_records SET status = 'expired'"
                 f" WHERE {sql.any_of('id', 'SELECT record_row FROM expiring WHERE record_row IS NOT NULL')}"))
    if sum(n - named for _, _, n, named in kinds):
        await x(text("UPDATE exchange_records SET status = 'expired' WHERE (agency, agency_record_id) IN"
                     " (SELECT agency, agency_record_id FROM expiring WHERE record_row IS NULL)"))
    if "incomes" in tables:
        await _incomes(s, sql)
    if "vehicles" in tables:
        await _vehicles(s, sql)
    if "properties" in tables:
        await _properties(s, sql)
    if "bank_balances" in tables:
        await _bank_balances(s, sql)
    for column in sorted(columns & {"disability", "died_on"}):
        lapsed_here = f"SELECT person_id FROM expiring WHERE tbl = 'persons' AND col = '{column}'"
        await x(text(f"UPDATE persons SET {column} = NULL WHERE {sql.any_of('id', lapsed_here)}"))
    if "service_body" in columns:  # cleared only where it is the body whose record lapsed
        lapsed_here = "SELECT person_id FROM expiring WHERE tbl = 'persons' AND col = 'service_body'"
        await x(text(f"UPDATE persons SET service_body = NULL WHERE {sql.any_of('id', lapsed_here)}"
                     " AND service_body IN (SELECT e.body FROM expiring e WHERE e.person_id = persons.id"
                     " AND e.tbl = 'persons' AND e.col = 'service_body')"))
    if tables - {None, "persons", *RECOMPUTED_TABLES} or columns - {None, *RECOMPUTED_COLUMNS}:
        await _apply_elsewhere(uow, catalogue)
    households = "SELECT household_id FROM expiring WHERE household_id IS NOT NULL"
    await x(text(f"UPDATE households SET data_changed_at = :now WHERE {sql.any_of('id', households)}")
            .bindparams(bindparam("now", type_=Stamp)), {"now": uow.now()})
    stamped = int(await s.scalar(text("SELECT COUNT(DISTINCT household_id) FROM expiring")) or 0)
    if not sql.pg:
        await x(text("DROP TABLE temp.expiring"))
    return lapsed, stamped


async def _incomes(s: AsyncSession, sql: _Sql) -> None:
    """Each lapsed month and source of a person: the sum of the facts left of every item of that
    source (0 when none is left, as ``_apply`` writes it), with their agencies, sorted."""
    key = sql.key("m.item")
    await s.execute(text(
        f"WITH {sql.catalogue_cte()}, keys AS ({INCOME_KEYS}),"
        # Their persons' facts first, by the key: the catalogue's few rows are then matched in memory.
        " mine AS MATERIALIZED (SELECT f.pinfl, f.item, f.agency, f.value FROM facts f"
        " WHERE f.pinfl IN (SELECT pinfl FROM keys)),"
        f" held AS (SELECT m.pinfl, substr({key}, 1, 7) AS month, c.source, m.agency,"
        f" {sql.number('m.value')} AS amount FROM mine m CROSS JOIN cat c WHERE c.part = {sql.part('m.item')}"
        f" AND c.tbl = 'incomes' AND c.source IS NOT NULL AND {key} IS NOT NULL),"
        " by_agency AS (SELECT pinfl, month, source, agency, SUM(amount) AS amount FROM held"
        " GROUP BY pinfl, month, source, agency),"
        # A window, not GROUP BY: SQLite's group_concat takes no ORDER BY, its window does.
        f" sums AS (SELECT DISTINCT pinfl, month, source, SUM(amount) OVER w AS amount, {sql.concat('agency')}"
        " OVER w AS agencies FROM by_agency WINDOW w AS (PARTITION BY pinfl, month, source"
        f" ORDER BY {sql.sorted_text('agency')} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))"
        " INSERT INTO incomes (household_id, person_id, month, source, amount, agency)"
        f" SELECT k.household_id, k.person_id, {sql.month('k.month')}, k.source, COALESCE(s.amount, 0),"
        " substr(COALESCE(s.agencies, ''), 1, 40)"
        " FROM keys k LEFT JOIN sums s ON s.pinfl = k.pinfl AND s.month = k.month AND s.source = k.source"
        # WHERE true: SQLite reads an ON after a FROM as a join's without one.
        " WHERE true"
        " ON CONFLICT (person_id, month, source) DO UPDATE SET household_id = excluded.household_id,"
        " amount = excluded.amount, agency = excluded.agency"))


async def _vehicles(s: AsyncSession, sql: _Sql) -> None:
    """A lapsed vehicle is held again only if its registration is left and no deregistration as new."""
    await s.execute(text(
        f"DELETE FROM vehicles WHERE {sql.any_of('person_id', f'SELECT person_id FROM ({VEHICLE_KEYS}) k')}"
        f" AND (person_id, plate) IN (SELECT person_id, plate FROM ({VEHICLE_KEYS}) k)"))
    await s.execute(text(
        "INSERT INTO vehicles (household_id, person_id, kind, year, roadworthy, plate)"
        f" SELECT k.household_id, k.person_id, {sql.field('h.value', 'kind', 'VARCHAR')},"
        f" {sql.field('h.value', 'year', 'INTEGER')}, {sql.field('h.value', 'roadworthy', 'BOOLEAN')}, k.plate"
        f" FROM ({VEHICLE_KEYS}) k JOIN facts h ON h.pinfl = k.pinfl AND h.item = 'yhxbb.vehicle|' || k.plate"
        " LEFT JOIN facts g ON g.pinfl = k.pinfl AND g.item = 'yhxbb.vehicle_deregistered|' || k.plate"
        " WHERE g.pinfl IS NULL OR g.as_of < h.as_of"))


async def _properties(s: AsyncSession, sql: _Sql) -> None:
    await s.execute(text(
        f"DELETE FROM properties WHERE {sql.any_of('person_id', f'SELECT person_id FROM ({PROPERTY_KEYS}) k')}"
        f" AND (person_id, cadastre_number, kind) IN (SELECT person_id, cadastre, kind FROM ({PROPERTY_KEYS}) k)"))
    await s.execute(text(
        "INSERT INTO properties (household_id, person_id, kind, cadastre_number)"
        f" SELECT k.household_id, k.person_id, k.kind, k.cadastre FROM ({PROPERTY_KEYS}) k"
        " JOIN facts h ON h.pinfl = k.pinfl AND h.item = 'kadastr.' || k.kind || '_property|' || k.cadastre"
        f" WHERE {sql.is_true('h.value')}"))


async def _bank_balances(s: AsyncSession, sql: _Sql) -> None:
    """A person's balance: the sum of the bank values left, as of the newest of them."""
    await s.execute(text(
        f"DELETE FROM bank_balances WHERE {sql.any_of('person_id', f'SELECT person_id FROM ({BANK_KEYS}) k')}"))
    await s.execute(text(
        f"WITH {sql.catalogue_cte()}, keys AS ({BANK_KEYS}),"
        " mine AS MATERIALIZED (SELECT f.pinfl, f.item, f.value, f.as_of FROM facts f"
        " WHERE f.pinfl IN (SELECT pinfl FROM keys))"
        " INSERT INTO bank_balances (household_id, person_id, amount, as_of)"
        f" SELECT k.household_id, k.person_id, SUM({sql.number('m.value')}), MAX(m.as_of)"
        " FROM keys k JOIN mine m ON m.pinfl = k.pinfl CROSS JOIN cat c"
        f" WHERE c.part = {sql.part('m.item')} AND c.tbl = 'bank_balances'"
        " GROUP BY k.household_id, k.person_id"))


async def _apply_elsewhere(uow: UnitOfWork, catalogue: Catalogue) -> None:
    """Lapsed values that apply to what the statements above do not recompute go through
    ``_apply``, as ingest applies them: the value a column reads once lapsed, on the facts left."""
    from core.services.exchange import _apply, _expired_value, _FactRow

    s = uow.session
    rows = (await s.execute(text(
        "SELECT pinfl, part, fact_key, agency, agency_record_id, person_id, household_id FROM expiring"
        " WHERE person_id IS NOT NULL AND tbl IS NOT NULL AND NOT (tbl IN :tables"
        " OR (tbl = 'persons' AND col IN :columns))")
        .bindparams(bindparam("tables", expanding=True), bindparam("columns", expanding=True)),
        {"tables": list(RECOMPUTED_TABLES), "columns": list(RECOMPUTED_COLUMNS)})).all()
    persons = {pinfl: (pid, hid) for pinfl, _, _, _, _, pid, hid in rows}
    facts: dict[str, dict[str, _FactRow]] = defaultdict(dict)
    for chunk in in_chunks(sorted(persons)):
        found = await s.execute(select(Fact.pinfl, Fact.item, Fact.value, Fact.agency, Fact.agency_record_id,
                                       Fact.as_of, Fact.received_at).where(Fact.pinfl.in_(chunk)))
        for pinfl, item, value, agency, rid, as_of, received in found:
            facts[pinfl][item] = _FactRow(value.get("value"), agency, rid, as_of, received)
    today = uow.today()
    changed: Sequence[AgencyRecord] = [
        AgencyRecord(agency, part, pinfl,
                     _expired_value(spec) if (spec := catalogue.items[part]).table == "persons" else None,
                     today, rid, key)
        for pinfl, part, key, agency, rid, _, _ in rows]
    await _apply(uow, catalogue, list(changed), persons, facts)

