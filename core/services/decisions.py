"""A recorded decision as one document, whichever path made it.

An application is decided by ``core.eligibility.assess`` and keeps its whole ``Decision`` under
``inputs["decision"]`` and its provenance map under ``inputs["provenance"]``. Bulk assessment
writes its figures as columns and the ids of the ``exchange_records`` rows they rest on in
``sources`` (core/storage/assessment_sql.py, migration 0008); bulk decisions written before that
keep both in ``inputs["figures"]`` and ``inputs["sources"]``. Readers (the API, the hotline) get
one shape whichever it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from core.clock import in_tashkent
from core.eligibility import MONTHS_COUNTED, income_months
from core.exchange import load_catalogue
from core.rates import RateBook
from core.storage.schema import Decision, ExchangeRecord
from core.storage.uow import UnitOfWork

CHUNK = 1000

# A bulk decision's figures, in the columns named as in ``inputs["figures"]`` before migration 0008.
FIGURES = ("members", "income_total", "able_members", "children", "youngest_child_birth_date",
           "residential_properties", "non_residential_properties", "roadworthy_vehicles",
           "newest_roadworthy_year", "bank_balance_total", "amount_total")


def _columnar(row: Decision) -> bool:
    """Whether a bulk decision keeps its figures and sources in columns (written from 0008 on:
    every such decision counts its members)."""
    return row.members is not None


def figures_of(row: Decision) -> dict[str, Any]:
    """A bulk decision's figures, from its columns or, if written before 0008, its JSON."""
    if not _columnar(row):
        return dict((row.inputs or {}).get("figures", {}))
    figures = {name: getattr(row, name) for name in FIGURES}
    born = figures["youngest_child_birth_date"]
    figures["youngest_child_birth_date"] = born.isoformat() if born is not None else None
    return figures


def trigger_of(row: Decision) -> str:
    return str((row.inputs or {}).get("trigger") or ("application" if row.application_id else "assessment"))


def decision_document(row: Decision, book: RateBook) -> dict[str, Any]:
    inputs = row.inputs or {}
    if "decision" in inputs:
        return dict(inputs["decision"])
    figures = figures_of(row)
    # The scheme the day's rules followed: the rate book's dated table says (kept in the JSON before 0008).
    scheme = inputs.get("scheme") or book.eligibility_scheme.in_force(row.decided_on)
    return {
        "on": row.decided_on.isoformat(),
        "eligible": row.eligible,
        "category": row.category,
        "programme": row.programme,
        "share_percent": row.share_percent,
        "monthly_amount": row.amount,
        "duration_months": row.duration_months,
        "mce": row.mce,
        "income_total": figures.get("income_total", 0),
        "months_counted": MONTHS_COUNTED,
        "members": figures.get("members", 0),
        "income_per_member": row.income_per_member,
        "reasons": list(row.reasons or []),
        "inputs": {**figures, "scheme": scheme, "form": inputs.get("form", "set-based"),
                   "income_months": [m.isoformat() for m in income_months(row.decided_on)]},
    }


async def provenance_of(uow: UnitOfWork, rows: Sequence[Decision]) -> dict[int, dict[str, Any]]:
    """Per decision id, ``{"<pinfl>:<item>": {agency, record_id, as_of, received_at}}`` of the
    agency data it used: kept in the decision of an application, read back through the record
    ids of a bulk one (records are kept for good; only their status changes)."""
    out: dict[int, dict[str, Any]] = {}
    wanted: dict[int, list[int]] = {}
    for row in rows:
        inputs = row.inputs or {}
        if _columnar(row):
            wanted[row.id] = [int(i) for i in (row.sources or "").split(",") if i]
        elif "sources" in inputs:
            wanted[row.id] = [int(i) for i in inputs["sources"]]
        else:
            out[row.id] = dict(inputs.get("provenance", {}))
    ids = sorted({i for sources in wanted.values() for i in sources})
    records: dict[int, tuple[str, dict[str, Any]]] = {}
    # A bulk decision keeps the ids of every value its household held, incomes of every month
    # among them: an income record names a month (its key begins "YYYY-MM"), and only the
    # months the decision counted are data it rested on.
    catalogue = load_catalogue()
    income_items = {s.item for s in catalogue.items_for_table("incomes")}
    # Items the registry keeps but applies to nothing (a formal job, a marriage): no rule reads them.
    unread = {s.item for s in catalogue.items.values() if s.applies is None}
    months_of: dict[int, str] = {}
    for start in range(0, len(ids), CHUNK):
        for rid, agency, record_id, item, pinfl, value, as_of, received in await uow.session.execute(
                select(ExchangeRecord.id, ExchangeRecord.agency, ExchangeRecord.agency_record_id, ExchangeRecord.item,
                       ExchangeRecord.pinfl, ExchangeRecord.value, ExchangeRecord.as_of, ExchangeRecord.received_at)
                .where(ExchangeRecord.id.in_(ids[start:start + CHUNK]))):
            key = (value or {}).get("key")
            if item in unread:
                continue
            if item in income_items and isinstance(key, str):
                months_of[rid] = key[:7]
            records[rid] = (f"{pinfl}:{item}" + (f"|{key}" if key else ""), {
                "agency": agency, "record_id": record_id, "as_of": as_of.isoformat(),
                "received_at": in_tashkent(received).isoformat()})
    decided_on = {row.id: row.decided_on for row in rows}
    for decision_id, sources in wanted.items():
        counted = {m.isoformat()[:7] for m in income_months(decided_on[decision_id])}
        out[decision_id] = dict(records[i] for i in sources
                                if i in records and (i not in months_of or months_of[i] in counted))
    return out
