"""The limit on the sums ingest stores: a household's incomes in a month, and its bank balances.

Each value an agency sends is capped at :data:`~core.exchange.MAX_NUMBER`, but ingest adds values
up: the ``incomes`` row of a person, month and source is the sum of every employer's wage, the
``bank_balances`` row of a person the sum of every account. Thousands of records at the cap made
a sum past a 64-bit integer (an overflow that lost the whole batch), and the assessment adds these
rows up again per household (``CAST(SUM(amount) AS BIGINT)``). So a record that would take its
household's incomes in a month, or its household's balances, past ``MAX_NUMBER`` is refused: every
stored row stays within it, and an assessment's sum of a few months stays far inside 64 bits.

The check runs on the rows as stored plus what the batch changes, in the batch's order of
application; it reads the touched households' rows once per batch (in chunks), never per record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput
from core.exchange import MAX_NUMBER, AgencyRecord, Catalogue, ItemSpec
from core.storage.bulk_rows import rows_where_in
from core.storage.schema import BankBalance, Income


class _Fact(Protocol):
    value: Any


# What a stored row is a sum of: ("incomes", person, "YYYY-MM", source) or ("bank", person).
RowKey = tuple[Any, ...]
# What the limit holds for: ("incomes", household, "YYYY-MM") or ("bank", household).
GroupKey = tuple[Any, ...]


@dataclass
class Totals:
    """Stored rows and household sums, as the batch so far leaves them."""

    catalogue: Catalogue
    persons: Mapping[str, tuple[int, int]]  # pinfl → (person id, household id)
    facts: Mapping[str, Mapping[str, _Fact]]  # pinfl → fact item → the fact in force
    rows: dict[RowKey, int] = field(default_factory=dict)
    groups: dict[GroupKey, int] = field(default_factory=dict)
    _sums: dict[RowKey, int] = field(default_factory=dict)  # a row as its facts add up

    @classmethod
    async def load(cls, session: AsyncSession, catalogue: Catalogue, records: Iterable[AgencyRecord],
                   persons: Mapping[str, tuple[int, int]],
                   facts: Mapping[str, Mapping[str, _Fact]]) -> Totals:
        """The stored rows of the households that ``records`` would change."""
        totals = cls(catalogue, persons, facts)
        incomes: set[int] = set()
        months: set[dt.date] = set()
        banks: set[int] = set()
        for rec in records:
            table = catalogue.items[rec.item].table
            if table == "incomes" and rec.key is not None:
                incomes.add(persons[rec.pinfl][1])
                months.add(dt.date(int(rec.key[:4]), int(rec.key[5:7]), 1))
            elif table == "bank_balances":
                banks.add(persons[rec.pinfl][1])
        # Only the months the batch brings: no other month's sum can change.
        for pid, hid, month, source, amount in await rows_where_in(
                session, select(Income.person_id, Income.household_id, Income.month, Income.source, Income.amount)
                .where(Income.month.in_(sorted(months))), Income.household_id, sorted(incomes)):
            totals._add(("incomes", pid, _month(month), source), ("incomes", hid, _month(month)), int(amount))
        for owner, hid, balance in await rows_where_in(
                session, select(BankBalance.person_id, BankBalance.household_id, BankBalance.amount),
                BankBalance.household_id, sorted(banks)):
            totals._add(("bank", owner), ("bank", hid), int(balance))
        return totals

    def _add(self, row: RowKey, group: GroupKey, amount: int) -> None:
        self.rows[row] = self.rows.get(row, 0) + amount
        self.groups[group] = self.groups.get(group, 0) + amount

    def admit(self, rec: AgencyRecord, replaced: _Fact | None) -> InvalidInput | None:
        """Take ``rec`` (replacing the fact ``replaced`` of the same fact item) into the sums, or
        the refusal if its household's sum would pass the limit (the sums then stay as they were)."""
        spec = self.catalogue.items[rec.item]
        keys = self._keys(rec, spec)
        if keys is None:
            return None
        row, group, what = keys
        pid = self.persons[rec.pinfl][0]
        stored_row = (row[0], pid, *row[2:])
        before = self._sum(rec.pinfl, row)
        after = before - (int(replaced.value) if replaced is not None else 0) + int(rec.value)
        total = self.groups.get(group, 0) - self.rows.get(stored_row, 0) + after
        if total > MAX_NUMBER:
            return InvalidInput("exchange.total_too_large", item=rec.item, total=what,
                                **({"month": row[2]} if row[0] == "incomes" else {}), limit=MAX_NUMBER)
        self._sums[row] = after
        self.groups[group] = total
        self.rows[stored_row] = after
        return None

    def _keys(self, rec: AgencyRecord, spec: ItemSpec) -> tuple[RowKey, GroupKey, str] | None:
        hid = self.persons[rec.pinfl][1]
        if spec.table == "incomes" and spec.applies is not None and rec.key is not None:
            month = rec.key[:7]
            return ("incomes", rec.pinfl, month, spec.applies["source"]), ("incomes", hid, month), \
                "household_month_income"
        if spec.table == "bank_balances":
            return ("bank", rec.pinfl), ("bank", hid), "household_bank_balance"
        return None

    def _sum(self, pinfl: str, row: RowKey) -> int:
        """The facts in force behind a stored row, added up (once; then kept up to date)."""
        if row not in self._sums:
            total = 0
            for fact_item, fact in self.facts.get(pinfl, {}).items():
                item, _, key = fact_item.partition("|")
                spec = self.catalogue.items.get(item)
                if spec is not None and self._row_of(spec, key) == row[2:]:
                    total += int(fact.value)
            self._sums[row] = total
        return self._sums[row]

    @staticmethod
    def _row_of(spec: ItemSpec, key: str) -> tuple[Any, ...] | None:
        if spec.table == "incomes" and spec.applies is not None and key:
            return (key[:7], spec.applies["source"])
        if spec.table == "bank_balances":
            return ()
        return None


def _month(day: dt.date) -> str:
    return day.isoformat()[:7]
