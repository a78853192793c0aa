"""A recorded decision as one document, whichever path made it.

An application is decided by ``core.eligibility.assess`` and keeps its whole ``Decision`` under
``inputs["decision"]``; bulk assessment writes the same figures as columns plus
``inputs["figures"]`` (core/storage/assessment_sql.py). Readers (the API, the hotline) get one
shape either way, with the provenance of the agency data it rested on.
"""

from __future__ import annotations

from typing import Any

from core.eligibility import MONTHS_COUNTED, income_months
from core.storage.schema import Decision


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


def decision_provenance(row: Decision) -> dict[str, Any]:
    """``{"<pinfl>:<item>": {agency, record_id, as_of, received_at}}`` of the data the decision used."""
    return dict((row.inputs or {}).get("provenance", {}))
