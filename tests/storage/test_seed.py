"""The synthetic registry: deterministic, valid identifiers, consistent stories, a demo list."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core import applications as app_rules
from core.eligibility import Decision as EligibilityDecision
from core.grievances import parse_tracking_number
from core.identity import Msisdn, Pinfl, make_pinfl
from core.seed.demo import demo_citizens
from core.seed.generator import (
    COLUMNS,
    ID_TABLES,
    LANGUAGES,
    SITUATIONS,
    Counters,
    Generator,
    payroll_months,
    phone_number,
    pinfl_tail,
)
from core.seed.loader import (
    LANES,
    _ensure_cycles,
    counters_from,
    lane_rng,
    seed_registry,
    seeded_cycle_state,
    territory_index,
)
from core.seed.names import surname_agrees
from core.services.territory import load_territory
from core.storage.schema import (
    Application,
    Contact,
    Decision,
    Enrolment,
    Grievance,
    Household,
    Income,
    PaymentCycle,
    PayrollLine,
    Person,
)
from core.storage.uow import Core

HOUSEHOLDS = 200
SEED = 1140


async def _seed(core: Core, households: int = HOUSEHOLDS, seed: int = SEED) -> None:
    report = await seed_registry(core, households, seed, chunk_size=64)
    assert report.households == households and not report.skipped


async def test_the_same_seed_gives_the_same_people_and_phones(core: Core) -> None:
    await _seed(core)
    async with core.sessions() as s:
        pinfls = (await s.scalars(select(Person.pinfl).order_by(Person.id))).all()
        phones = (await s.scalars(select(Contact.phone).order_by(Contact.household_id))).all()
        async with core.engine.connect() as conn:
            index = await territory_index(conn)
    # Made again in memory, in chunks of another size, from an empty registry's counters.
    gen = Generator(random.Random(SEED), index, Counters.empty(), core.book, core.clock.today(), core.clock.now())
    chunks = [gen.chunk(n) for n in (7, 93, 100)]
    assert [r[1] for c in chunks for r in c.rows["persons"]] == pinfls
    assert [r[1] for c in chunks for r in c.rows["contacts"]] == phones
    other = Generator(random.Random(SEED + 1), index, Counters.empty(), core.book, core.clock.today(),
                      core.clock.now())
    assert [r[1] for r in other.chunk(HOUSEHOLDS).rows["persons"]] != pinfls


async def test_identifiers_are_valid_and_unique_and_names_agree_with_sex(core: Core) -> None:
    await _seed(core)
    today = core.clock.today()
    async with core.sessions() as s:
        people = (await s.scalars(select(Person))).all()
        phones = (await s.scalars(select(Contact.phone))).all()
    assert 3.5 * HOUSEHOLDS <= len(people) <= 5.5 * HOUSEHOLDS
    assert len({p.pinfl for p in people}) == len(people)
    for p in people:
        parsed = Pinfl.parse(p.pinfl, today=today)
        assert (parsed.birth_date, parsed.sex) == (p.birth_date, p.sex)
        assert surname_agrees(p.surname, p.sex), (p.surname, p.sex)
        assert p.patronymic
    assert len(set(phones)) == len(phones) == HOUSEHOLDS
    assert all(Msisdn.parse(phone).e164 == phone for phone in phones)


async def test_every_story_hangs_together(core: Core) -> None:
    await _seed(core)
    month = core.clock.today().replace(day=1)
    async with core.sessions() as s:
        apps = (await s.scalars(select(Application))).all()
        assert {a.state for a in apps} >= {"enrolled", "rejected", "submitted", "verifying"}
        for app in apps:
            parse_tracking_number(app.number)
            if app.state in ("enrolled", "rejected"):
                decision = await s.get(Decision, app.decision_id)
                assert decision is not None and decision.application_id == app.id
                recorded = EligibilityDecision.from_dict(decision.inputs["decision"])
                assert recorded.eligible == (app.state == "enrolled") == decision.eligible
                assert [r["code"] for r in decision.reasons] == list(recorded.reason_codes)
                assert app.decision_month == app_rules.decision_month(app.submitted_at.date(), core.book)
            else:
                assert app.decision_id is None and app.application_month == month
        enrolments = (await s.scalars(select(Enrolment))).all()
        assert enrolments and all(e.state == "active" and e.first_month <= month <= e.last_month for e in enrolments)
        cycles = {c.month: c for c in (await s.scalars(select(PaymentCycle))).all()}
        # 10 December: the window (4th–27th) is open, lines are at the bank, so the payroll was
        # approved, by someone other than who opened it (maker-checker).
        assert cycles[month].state == "approved"
        assert all(c.state == "reconciled" for m, c in cycles.items() if m < month)
        assert all(c.approved_by and c.approved_by != c.opened_by for c in cycles.values())
        for m, c in cycles.items():
            lines = (await s.scalars(select(PayrollLine).where(PayrollLine.cycle_month == m))).all()
            assert c.line_count == len(lines) and c.total_amount == sum(line.amount for line in lines)
        statuses = set((await s.scalars(select(PayrollLine.status).where(PayrollLine.cycle_month < month))).all())
        assert statuses <= {"paid", "failed"} and "paid" in statuses
        assert len((await s.scalars(select(PayrollLine).where(PayrollLine.cycle_month == month))).all()) == len(
            enrolments)
        grievances = (await s.scalars(select(Grievance))).all()
        assert grievances
        for g in grievances:
            parse_tracking_number(g.number)
            assert g.due_on > g.received_on
        incomes = await s.scalar(select(func.count()).select_from(Income))
        assert incomes and incomes > HOUSEHOLDS


async def test_demo_citizens_cover_every_situation_and_language(core: Core) -> None:
    await _seed(core)
    citizens = await demo_citizens(core)
    assert {(c.language, c.situation) for c in citizens} == {(lang, s) for lang in LANGUAGES for s in SITUATIONS}
    by = {(c.language, c.situation): c for c in citizens}
    for lang in LANGUAGES:
        assert by[lang, "enrolled"].extra["next_payment"]["status"] in ("scheduled", "sent")
        assert by[lang, "rejected"].extra["reasons"]
        assert by[lang, "waiting"].application_number
        assert by[lang, "grievance"].grievance_number
    assert by["kaa", "enrolled"].name.endswith(("ulı", "qızı"))
    assert by["uz", "rejected"].extra["reasons"][0] == "exclusion.new_car"
    assert await demo_citizens(core) == citizens  # found again, not remembered


async def test_if_empty_is_a_no_op_the_second_time_and_seeding_more_adds_to_the_registry(core: Core) -> None:
    first = await seed_registry(core, 40, SEED, if_empty=True)
    assert first.households == 40
    again = await seed_registry(core, 40, SEED, if_empty=True)
    assert again.skipped and again.households == 0
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Household)) == 40
    # Without --if-empty the same seed adds 40 more, numbering on from what is stored.
    await seed_registry(core, 40, SEED)
    async with core.uow() as uow:
        s = uow.session
        assert await s.scalar(select(func.count()).select_from(Household)) == 80
        pinfls = (await s.scalars(select(Person.pinfl))).all()
        assert len(set(pinfls)) == len(pinfls)
        # The database's own numbering continues after the ids the seed assigned.
        top = await s.scalar(select(func.max(Household.id)))
        household = Household(region_soato="1726", district_soato="1726262", mahalla_id=(await s.scalar(
            select(Household.mahalla_id).limit(1))), address="x", created_at=uow.now(), data_changed_at=uow.now())
        s.add(household)
        await s.flush()
        assert household.id > top


async def _payrolls(core: Core) -> dict[dt.date, tuple[str, int, int, list[tuple[object, ...]]]]:
    """Each payroll: its state, count and total, and its lines."""
    async with core.sessions() as s:
        cycles = (await s.scalars(select(PaymentCycle).order_by(PaymentCycle.month))).all()
        return {c.month: (c.state, c.line_count, c.total_amount, [tuple(r) for r in (await s.execute(
            select(PayrollLine.id, PayrollLine.amount, PayrollLine.status).where(
                PayrollLine.cycle_month == c.month).order_by(PayrollLine.id))).all()]) for c in cycles}


async def test_a_seed_of_no_households_writes_no_payroll(core: Core) -> None:
    await seed_registry(core, 0, SEED)
    assert await _payrolls(core) == {}


async def test_a_later_seed_never_changes_a_payroll_already_there(core: Core) -> None:
    """Approved and reconciled payrolls are frozen: the families a second seed adds are not paid
    in their months (nor in this month's approved one), and the payroll they would need is
    opened from their enrolments as for any family."""
    await seed_registry(core, 40, SEED)
    before = await _payrolls(core)
    assert [state for state, *_ in before.values()] == ["reconciled", "reconciled", "approved"]
    await seed_registry(core, 40, SEED + 1)
    assert await _payrolls(core) == before
    async with core.sessions() as s:
        for _, count, total, lines in before.values():
            assert (count, total) == (len(lines), sum(amount for _, amount, _ in lines))
        assert await s.scalar(select(func.count()).select_from(PayrollLine)) == sum(
            count for _, count, _, _ in before.values())


async def test_a_seed_finishes_the_empty_payroll_an_unfinished_seed_left(core: Core) -> None:
    """A payroll is never opened empty: an empty cycle was made by a seed killed before its end."""
    async with core.engine.begin() as conn:
        await _ensure_cycles(conn, core, payroll_months(core.clock.today()))  # and then killed
    await seed_registry(core, 40, SEED)
    payrolls = await _payrolls(core)
    assert len(payrolls) == 3 and all(count == len(lines) > 0 for _, count, _, lines in payrolls.values())


async def test_a_seed_on_postgresql_leaves_its_tables_vacuumed(core: Core) -> None:
    """Pages marked all-visible: the first assessment reads facts from their index alone and sets
    no hint bits on the whole registry."""
    if core.engine.dialect.name != "postgresql":
        pytest.skip("VACUUM is PostgreSQL's")
    await seed_registry(core, 40, SEED)
    async with core.engine.connect() as conn:
        visible = dict((await conn.execute(text(
            "SELECT relname, relallvisible FROM pg_class WHERE relname IN ('persons', 'incomes', 'facts')"))).all())
    assert set(visible) == {"persons", "incomes", "facts"}
    assert all(pages > 0 for pages in visible.values()), visible


def test_cli_seeds_and_lists_demo_citizens_as_json(tmp_path: Path) -> None:
    env = {**os.environ, "SPSR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
           "SPSR_TODAY": "2026-12-10"}
    env.pop("SPSR_TEST_POSTGRES_URL", None)
    seeded = subprocess.run([sys.executable, "-m", "spsr.cli", "seed", "--households", "50"], env=env,
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    assert "seeded 50 households" in seeded.stdout
    listed = subprocess.run([sys.executable, "-m", "spsr.cli", "demo", "--json"], env=env,
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    citizens = json.loads(listed.stdout)
    assert {c["language"] for c in citizens} == set(LANGUAGES)
    assert {c["situation"] for c in citizens} == set(SITUATIONS)
    for c in citizens:
        assert {"name", "pinfl", "phone", "language", "situation", "household_id"} <= c.keys()
        Pinfl.parse(c["pinfl"], today=dt.date(2026, 12, 10))
        Msisdn.parse(c["phone"])
        if c["situation"] in ("enrolled", "rejected", "waiting"):
            assert c["application_number"]
        if c["situation"] == "grievance":
            assert c["grievance_number"]
    again = subprocess.run([sys.executable, "-m", "spsr.cli", "seed", "--households", "50", "--if-empty"],
                           env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert again.returncode == 0 and "nothing seeded" in again.stdout


async def test_worker_processes_make_the_same_registry(core: Core) -> None:
    """Large runs generate in worker processes (in lanes on PostgreSQL); the rows are those the
    in-process generators make, whatever the chunk size."""
    report = await seed_registry(core, 31, SEED, chunk_size=8, process=True)
    assert report.households == 31
    async with core.sessions() as s:
        pinfls = (await s.scalars(select(Person.pinfl).order_by(Person.id))).all()
    async with core.engine.connect() as conn:
        index = await territory_index(conn)
    lanes = LANES if core.engine.dialect.name == "postgresql" else 1
    people = []
    for w, counters in enumerate(Counters.empty().split(lanes)):
        gen = Generator(lane_rng(SEED, w), index, counters, core.book, core.clock.today(), core.clock.now())
        people += gen.chunk(31 // lanes + (1 if w < 31 % lanes else 0)).rows["persons"]
    assert [r[1] for r in sorted(people)] == pinfls


async def test_one_lane_is_the_generator_as_it_always_was(core: Core) -> None:
    await load_territory(core)
    async with core.engine.connect() as conn:
        index = await territory_index(conn)
    today, now = core.clock.today(), core.clock.now()
    plain = Generator(random.Random(SEED), index, Counters.empty(), core.book, today, now).chunk(40).rows
    (lane,) = Counters.empty().split(1)
    assert Generator(lane_rng(SEED, 0), index, lane, core.book, today, now).chunk(40).rows == plain


async def test_lanes_never_make_the_same_identifier(core: Core) -> None:
    await load_territory(core)
    async with core.engine.connect() as conn:
        index = await territory_index(conn)
    made = [Generator(lane_rng(SEED, w), index, c, core.book, core.clock.today(), core.clock.now()).chunk(300).rows
            for w, c in enumerate(Counters.empty().split(3))]
    unique = [(t, "id") for t in ID_TABLES] + [("persons", "pinfl"), ("contacts", "phone"),
                                                  ("applications", "number"), ("grievances", "number")]
    for table, key in unique:
        values = [r[COLUMNS[table].index(key)] for rows in made for r in rows[table]]
        assert values and len(values) == len(set(values)), f"{table}.{key} repeats across lanes"
    records = [(r[1], r[2]) for rows in made for r in rows["exchange_records"]]
    assert len(records) == len(set(records))
    # Only the first lane makes the showcase: the others start with ordinary households.
    assert made[0]["households"][0][0] == 1 and made[1]["households"][0][0] == 2


async def test_seeding_after_a_seed_in_lanes_numbers_on_past_every_serial_it_used(core: Core) -> None:
    """Lanes leave gaps in PINFL and phone serials; a later seed must not take the ones above the count."""
    await seed_registry(core, 90, SEED, chunk_size=16, process=True, lanes=2)
    async with core.engine.connect() as conn:
        counters = await counters_from(conn)
    async with core.sessions() as s:
        people = (await s.execute(select(Person.pinfl, Person.birth_date, Person.sex))).all()
        phones = set((await s.scalars(select(Contact.phone))).all())
    stored = {p for p, _, _ in people}
    for _, birth, sex in people:
        n = counters.pinfl_used[(birth, sex)]
        place, serial = pinfl_tail(birth, sex, n)
        assert make_pinfl(birth, sex, place, serial).value not in stored
    for prefix, n in counters.phones_used.items():
        assert phone_number(prefix, n) not in phones
    await seed_registry(core, 90, SEED + 1, chunk_size=16)
    async with core.sessions() as s:
        pinfls = (await s.scalars(select(Person.pinfl))).all()
        all_phones = (await s.scalars(select(Contact.phone))).all()
        numbers = (await s.scalars(select(Application.number))).all()
    assert len(set(pinfls)) == len(pinfls)
    assert len(set(all_phones)) == len(all_phones) == 180
    assert len(set(numbers)) == len(numbers)


async def test_a_seed_in_three_lanes_loads_every_household_once(core: Core) -> None:
    report = await seed_registry(core, 31, SEED, chunk_size=4, lanes=3)
    assert report.households == 31
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Household)) == 31
        pinfls = (await s.scalars(select(Person.pinfl))).all()
    assert len(set(pinfls)) == len(pinfls) == report.rows["persons"]


def test_cli_refuses_a_lanes_count_out_of_range(tmp_path: Path) -> None:
    env = {**os.environ, "SPSR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    for bad in ("0", "17", "two"):
        run = subprocess.run([sys.executable, "-m", "spsr.cli", "seed", "--lanes", bad], env=env,
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert run.returncode == 2 and "--lanes: '" + bad + "' is not a whole number from 1 to 16" in run.stderr
    run = subprocess.run([sys.executable, "-m", "spsr.cli", "seed", "--lanes", "2"], env=env,
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2 and "--lanes needs PostgreSQL" in run.stderr


def test_a_seeded_cycle_is_in_the_state_its_lines_are_in() -> None:
    """Lines at the bank (sent, paid) only ever belong to an approved payroll: never frozen."""
    from core.payments import payment_window
    from core.rates import RateBook

    december = dt.date(2026, 12, 1)
    window = payment_window(december, RateBook.load())  # the 4th to the 27th
    assert seeded_cycle_state(december, dt.date(2026, 12, 3), window) == "frozen"  # all scheduled
    assert seeded_cycle_state(december, dt.date(2026, 12, 4), window) == "approved"
    assert seeded_cycle_state(december, dt.date(2026, 12, 27), window) == "approved"
    assert seeded_cycle_state(december, dt.date(2026, 12, 28), window) == "reconciled"  # all paid or failed
    november = dt.date(2026, 11, 1)
    assert seeded_cycle_state(november, dt.date(2026, 12, 3), payment_window(november, RateBook.load())) == "reconciled"
