"""A bulk decision reads as the same document whether its figures are columns (migration 0008 on)
or JSON in ``inputs`` (decisions written before it)."""

from __future__ import annotations

import datetime as dt

from core.rates import RateBook
from core.services.decisions import decision_document, figures_of, trigger_of
from core.storage.schema import Decision

BOOK = RateBook.load()
ON = dt.date(2026, 12, 10)
FIGURES = {"members": 4, "income_total": 3_600_000, "able_members": 2, "children": 2,
           "youngest_child_birth_date": "2025-01-01", "residential_properties": 1,
           "non_residential_properties": 0, "roadworthy_vehicles": 0, "newest_roadworthy_year": None,
           "bank_balance_total": 0, "amount_total": 600_000}


def _decision(**columns: object) -> Decision:
    fields: dict[str, object] = {
        "id": 7, "household_id": 3, "application_id": None, "decided_on": ON, "eligible": True,
        "category": "poor", "programme": "child_benefit", "amount": 600_000, "share_percent": 100,
        "duration_months": 6, "mce": 900_000, "income_per_member": 300_000,
        "reasons": [{"code": "income.below_threshold", "params": {}}]}
    return Decision(**{**fields, **columns})


def test_columns_and_legacy_json_give_the_same_document() -> None:
    columns = {**FIGURES, "youngest_child_birth_date": dt.date(2025, 1, 1)}
    now = _decision(inputs={}, sources="11,12", **columns)
    before = _decision(inputs={"trigger": "assessment", "form": "set-based", "scheme": "categories",
                               "figures": FIGURES, "sources": [11, 12]})
    assert figures_of(now) == figures_of(before) == FIGURES
    assert trigger_of(now) == trigger_of(before) == "assessment"
    document = decision_document(now, BOOK)
    assert document == decision_document(before, BOOK)
    assert document["members"] == 4
    assert document["inputs"]["children"] == 2
    assert document["inputs"]["youngest_child_birth_date"] == "2025-01-01"
    assert document["inputs"]["scheme"] == BOOK.eligibility_scheme.in_force(ON) == "categories"
    assert document["inputs"]["form"] == "set-based"


def test_an_applications_decision_keeps_its_own_document() -> None:
    row = _decision(application_id=5, inputs={"decision": {"eligible": False, "members": 1}})
    assert decision_document(row, BOOK) == {"eligible": False, "members": 1}
    assert trigger_of(row) == "application"
