"""The set-based ingest leaves the registry exactly as the statement-per-row one did
(``tests/storage/ingest_reference.py``), and answers each record alike: two batches mixing every
kind of record, on a seeded registry, run through each in a transaction rolled back after."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from typing import Any

import pytest
from sqlalchemy import text, update

from core.clock import FixedClock
from core.exchange import MAX_NUMBER
from core.seed.loader import seed_registry
from core.services.exchange import generate_records, ingest
from core.storage.schema import Household
from core.storage.uow import Actor, Core
from tests.storage.ingest_reference import reference_ingest

pytestmark = pytest.mark.postgres

ACTOR = Actor("agency", "test", "api")
# What a batch changes, each row told by what it is about (never an id a sequence gave it).
SNAPSHOT = {
    "exchange_records": "SELECT agency, agency_record_id, item, pinfl, value, as_of, received_at, status"
                        " FROM exchange_records",
    "facts": "SELECT f.pinfl, f.item, f.household_id, f.value, f.agency, f.agency_record_id, f.as_of, f.received_at,"
             " e.agency, e.agency_record_id FROM facts f LEFT JOIN exchange_records e ON e.id = f.record_id",
    "incomes": "SELECT i.household_id, p.pinfl, i.month, i.source, i.amount, i.agency FROM incomes i"
               " JOIN persons p ON p.id = i.person_id",
    "vehicles": "SELECT v.household_id, p.pinfl, v.kind, v.year, v.roadworthy, v.plate FROM vehicles v"
                " JOIN persons p ON p.id = v.person_id",
    "properties": "SELECT r.household_id, p.pinfl, r.kind, r.cadastre_number FROM properties r"
                  " JOIN persons p ON p.id = r.person_id",
    "bank_balances": "SELECT b.household_id, p.pinfl, b.amount, b.as_of FROM bank_balances b"
                     " JOIN persons p ON p.id = b.person_id",
    "persons": "SELECT pinfl, household_id, relation, surname, given_name, patronymic, birth_date, sex, disability,"
               " service_body, died_on FROM persons",
    "households": "SELECT h.id, h.data_changed_at, p.pinfl FROM households h LEFT JOIN persons p ON p.id = h.head_person_id",
}


def _changed(rec: dict[str, Any], record_id: str, as_of: str, rng: random.Random) -> dict[str, Any]:
    value = rec["value"]
    if rec["item"] == "yhxbb.vehicle":
        value = {**value, "roadworthy": not value["roadworthy"]}
    elif rec["item"] == "vtek.disability_group":
        value = rng.choice(["group1", "group3", "none"])
    elif isinstance(value, bool):
        value = not value  # a property sold, a member who left the service
    elif isinstance(value, int):
        value += rng.randrange(1, 90) * 1000
    return {**rec, "value": value, "record_id": record_id, "as_of": as_of}


def day(lines: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Two batches of every kind of record an agency sends, the second on top of the first."""
    rng = random.Random(1140)
    events = [r for r in lines if r["item"].startswith("fhdyo.")]
    held = [r for r in lines if not r["item"].startswith("fhdyo.")]
    rng.shuffle(held)
    by_item: dict[str, list[dict[str, Any]]] = {}
    for r in held:
        by_item.setdefault(r["item"], []).append(r)
    first: list[dict[str, Any]] = []
    for item, records in by_item.items():
        for n, r in enumerate(records[:12]):
            first.append(_changed(r, f"{r['record_id']}:c", "2026-12-05", rng))  # supersedes
            if n % 3 == 0:
                first.append(_changed(r, f"{r['record_id']}:s", "2026-11-20", rng))  # stale
            if n % 4 == 0:
                first.append(r)  # unchanged
            if n % 5 == 0 and item in ("soliq.wage", "pensiya.old_age_pension"):
                key = r["key"][:7].replace(r["key"][:7], "2026-12") + r["key"][7:]
                first.append({**r, "key": key, "as_of": "2026-12-10", "record_id": f"{r['record_id']}:next"})
    person = held[0]["pinfl"]
    wage = next(r for r in by_item["soliq.wage"][20:])
    first += [
        {**wage, "record_id": "big-1", "value": MAX_NUMBER - 5, "key": "2026-12/300000999", "as_of": "2026-12-08"},
        {**wage, "record_id": "big-2", "value": 10, "key": "2026-12/300000998", "as_of": "2026-12-08"},  # over
        {"agency": "bank", "item": "bank.balance", "pinfl": person, "key": "A-NEW", "value": 5_000_000,
         "as_of": "2026-06-01", "record_id": "lapsed"},  # expired
        {"agency": "bank", "item": "bank.deposit", "pinfl": person, "key": "D-1", "value": 7_000_000,
         "as_of": "2026-12-05", "record_id": "deposit"},
        {"agency": "mudofaa", "item": "mudofaa.service", "pinfl": person, "value": True, "as_of": "2026-12-02",
         "record_id": "joined"},
        {"agency": "iiv", "item": "iiv.service", "pinfl": person, "value": True, "as_of": "2026-12-03",
         "record_id": "moved-on"},
        {"agency": "fhdyo", "item": "fhdyo.death", "pinfl": by_item["soliq.wage"][30]["pinfl"],
         "value": "2026-11-30", "as_of": "2026-12-02", "record_id": "death"},
        {**wage, "record_id": "unknown", "pinfl": "31210632040244"},
        {**wage, "record_id": "bad", "value": "-3"},
        {**wage, "record_id": "twice", "key": "2026-12/300000997", "as_of": "2026-12-09", "value": 1},
        {**wage, "record_id": "twice", "key": "2026-12/300000997", "as_of": "2026-12-09", "value": 2},  # not a repeat
        {**wage, "record_id": "late", "key": "2026-12/300000996", "as_of": "2026-12-09", "value": 3},
        {**wage, "record_id": "early", "key": "2026-12/300000996", "as_of": "2026-12-07", "value": 4},  # stale
    ]
    vehicle = by_item["yhxbb.vehicle"][40]
    first.append({"agency": "yhxbb", "item": "yhxbb.vehicle_deregistered", "pinfl": vehicle["pinfl"],
                  "key": vehicle["key"], "value": "2026-12-01", "as_of": "2026-12-04", "record_id": "dereg"})
    first += events
    rng.shuffle(first)
    first += first[:5]  # exact repeats inside the batch
    second = [_changed(r, f"{r['record_id']}:again", "2026-12-09", rng) for r in first[:40]
              if r["record_id"] not in ("twice", "unknown", "bad")]
    second += first[40:80]  # held now
    second += [{**r, "value": r["value"] + 1} for r in first[80:90]
               if type(r["value"]) is int and r["record_id"] != "bad"]  # record_id_reused
    second += [{**wage, "record_id": "iiv-off", "agency": "iiv", "item": "iiv.service", "key": None,
                "pinfl": person, "value": False, "as_of": "2026-12-09"},
               # one employer's wage of a month corrected: the month's row adds the others' up
               {**wage, "record_id": "late-2", "key": "2026-12/300000996", "as_of": "2026-12-10", "value": 5},
               {"agency": "bank", "item": "bank.balance", "pinfl": person, "key": "A-2", "value": 1_000,
                "as_of": "2026-12-09", "record_id": "second-account"}]
    return [first, second]


async def snapshot(core: Core, run: Any, batches: list[list[dict[str, Any]]], clock: FixedClock) -> tuple[Any, ...]:
    start = clock.now()
    async with core.uow(write=True) as uow:
        await uow.session.execute(update(Household).values(data_changed_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
        answers = []
        for batch in batches:
            clock.advance(dt.timedelta(minutes=1))
            result = await run(uow, batch, ACTOR)
            answers.append(result.to_dict())
        tables = {}
        for name, sql in SNAPSHOT.items():
            rows = (await uow.session.execute(text(sql))).all()
            tables[name] = sorted((tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for v in r)
                                   for r in rows), key=repr)
        await uow.rollback()
    clock.advance(start - clock.now())  # both runs stamp the same times
    return answers, tables


async def test_a_day_of_every_kind_of_record_is_stored_as_row_by_row(core: Core, clock: FixedClock) -> None:
    await seed_registry(core, 400, 1140)
    out = io.StringIO()
    await generate_records(core, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    batches = day(lines)

    async def new(uow: Any, batch: list[dict[str, Any]], actor: Actor) -> Any:
        return await ingest(uow, batch, actor)

    expected_answers, expected = await snapshot(core, reference_ingest, batches, clock)
    answers, tables = await snapshot(core, new, batches, clock)
    # The batches hold what they are meant to: every answer, births and moves among them.
    first = expected_answers[0]
    assert first["accepted"] > 150 and first["superseded"] > 100 and first["stale"] > 20 and first["expired"] >= 1
    assert {r["code"] for r in first["rejected"]} >= {
        "exchange.total_too_large", "exchange.unknown_pinfl", "exchange.bad_value", "exchange.duplicate_in_batch"}
    assert "exchange.record_id_reused" in {r["code"] for r in expected_answers[1]["rejected"]}
    where = {row[0]: row[1] for row in expected["persons"]}
    assert any(r["pinfl"] in where for r in lines if r["item"] == "fhdyo.birth")  # newborns added
    assert any(where[r["pinfl"]] == where[r["value"]] for r in lines if r["item"] == "fhdyo.household_member")
    assert answers == expected_answers
    for name in SNAPSHOT:
        assert tables[name] == expected[name], name
