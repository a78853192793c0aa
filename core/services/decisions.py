"""A recorded decision as one document, whichever path made it.

An application is decided by ``core.eligibility.assess`` and keeps its whole ``Decision`` under
``inputs["decision"]`` and its provenance map under ``inputs["provenance"]``; bulk assessment
writes the same figures as columns plus ``inputs["figures"]``, and the ids of the
``exchange_records`` rows it rested on under ``inputs["sources"]`` (core/storage/assessment_sql.py).
Readers (the API, the hotline) get one shape either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from core.eligibility import MONTHS_COUNTED, income_months
from core.storage.schema import Decision, ExchangeRecord
from core.storage.uow import UnitOfWork

CHUNK = 1000


def decision_document(row: Decision) -> dict[str, Any]:
    inputs = row.inputs or {}
    if "decision" in inputs:
        return dict(inputs["decision"])
    figures = dict(inputs.get("figures", {}))
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
        "inputs": {**figures, "scheme": inputs.get("scheme"), "form": inputs.get("form"),
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
        if "sources" in inputs:
            wanted[row.id] = [int(i) for i in inputs["sources"]]
        else:
            out[row.id] = dict(inputs.get("provenance", {}))
    ids = sorted({i for sources in wanted.values() for i in sources})
    records: dict[int, tuple[str, dict[str, Any]]] = {}
    for start in range(0, len(ids), CHUNK):
        for rid, agency, record_id, item, pinfl, value, as_of, received in await uow.session.execute(
                select(ExchangeRecord.id, ExchangeRecord.agency, ExchangeRecord.agency_record_id, ExchangeRecord.item,
                       ExchangeRecord.pinfl, ExchangeRecord.value, ExchangeRecord.as_of, ExchangeRecord.received_at)
                .where(ExchangeRecord.id.in_(ids[start:start + CHUNK]))):
            key = (value or {}).get("key")
            records[rid] = (f"{pinfl}:{item}" + (f"|{key}" if key else ""), {
                "agency": agency, "record_id": record_id, "as_of": as_of.isoformat(),
                "received_at": received.isoformat()})
    for decision_id, sources in wanted.items():
        out[decision_id] = dict(records[i] for i in sources if i in records)
    return out
