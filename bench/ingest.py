"""Agency records in: batches of 10,000 through ``ingest``, against a bulk-write baseline.

    .venv/bin/python bench/ingest.py --households 50000 --database postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/ingest.py --households 50000 --database /tmp/bench_ingest.db

Seeds a registry in a scratch database (it holds the records behind its own data), generates
those records (``spsr exchange generate``), and times batches of five kinds, each a few times
over records no other batch touches:

- ``unchanged``: records the registry already holds, sent again;
- ``new month``: next month's wages and pensions (new keys: accepted, incomes written);
- ``corrections``: held values sent again under new record ids, newer and changed: each accepted
  and superseding (incomes, vehicles, properties, balances, disability, service rewritten);
- ``mixed``: a typical day: new month, corrections, repeats, stale and expired values, births,
  moves, and a few refusals.

The baseline writes as many rows as a batch, in one transaction, into a scratch table of
``exchange_records``' shape: ``COPY`` on PostgreSQL, ``executemany`` on SQLite (it has no COPY).
Figures are printed, never asserted. ``--profile`` prints where a mixed batch spends its time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import bulk_write, scratch_database  # noqa: E402

TODAY = "2026-12-10"
BATCH = 10_000
NEXT_MONTH = "2026-12"  # after the months the seed counts (its records are as of 2026-12-01)
NEWER = "2026-12-05"  # corrections: after the held values' as-of date
OLDER = "2026-11-20"  # stale: before it
LAPSED = "2026-06-01"  # expired: a balance (valid 60 days) that old says nothing about today


def _next_month(rec: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    key = rec["key"]
    new_key = f"{NEXT_MONTH}/{key.split('/')[1]}" if "/" in key else NEXT_MONTH
    rid = rec["record_id"].rsplit(":", 1)[0] + ":" + NEXT_MONTH
    return {**rec, "key": new_key, "as_of": TODAY, "record_id": rid,
            "value": rec["value"] + rng.randrange(0, 50) * 1000}


def _changed(rec: dict[str, Any], as_of: str, tag: str, rng: random.Random) -> dict[str, Any]:
    value = rec["value"]
    if rec["item"] == "yhxbb.vehicle":
        value = {**value, "roadworthy": not value["roadworthy"]}
    elif rec["item"] == "vtek.disability_group":
        value = rng.choice(["group1", "group2", "group3"])
    elif isinstance(value, bool):
        value = rng.random() < 0.8
    elif isinstance(value, int):
        value = value + rng.randrange(1, 100) * 1000
    return {**rec, "as_of": as_of, "record_id": f"{rec['record_id']}:{tag}", "value": value}


def _refused(rec: dict[str, Any], n: int) -> dict[str, Any]:
    if n % 2:
        return {**rec, "pinfl": "31210632040244", "record_id": f"{rec['record_id']}:nobody"}  # unknown PINFL
    return {**rec, "value": "-5", "record_id": f"{rec['record_id']}:bad"}


def build_batches(lines: list[dict[str, Any]], per_kind: int, seed: int = 1140) -> list[tuple[str, list[Any]]]:
    """The batches to time, in order: each kind ``per_kind`` times, over records no other takes."""
    rng = random.Random(seed)
    events = [r for r in lines if r["item"].startswith("fhdyo.")]
    held = [r for r in lines if not r["item"].startswith("fhdyo.")]
    rng.shuffle(held)
    latest = max(r["key"][:7] for r in held if r["item"] == "soliq.wage")
    monthly = [r for r in held if r["item"] in ("soliq.wage", "pensiya.old_age_pension") and r["key"][:7] == latest]
    taken = {id(r) for r in monthly}
    others = [r for r in held if id(r) not in taken]
    balances = [r for r in others if r["item"] == "bank.balance"]
    others = [r for r in others if r["item"] != "bank.balance"]

    def take(pool: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        if len(pool) < n:
            raise SystemExit("too few records for the batches: seed more households")
        out = pool[-n:]
        del pool[-n:]
        return out

    batches: list[tuple[str, list[Any]]] = []
    for _ in range(per_kind):
        batches.append(("unchanged", take(others, BATCH)))
    for _ in range(per_kind):
        batches.append(("new month", [_next_month(r, rng) for r in take(monthly, BATCH)]))
    for _ in range(per_kind):
        batches.append(("corrections", [_changed(r, NEWER, "c", rng) for r in take(others, BATCH)]))
    per_events = len(events) // per_kind
    for k in range(per_kind):
        mixed: list[Any] = []
        mixed += [_next_month(r, rng) for r in take(monthly, 3500)]
        mixed += [_changed(r, NEWER, "m", rng) for r in take(others, 2500)]
        mixed += [_changed(r, NEWER, "b", rng) for r in take(balances, 400)]
        mixed += take(others, 1500)  # unchanged
        mixed += [_changed(r, OLDER, "s", rng) for r in take(others, 500)]  # stale
        mixed += [_changed(r, LAPSED, "x", rng) for r in take(balances, 100)]  # expired
        mixed += [_refused(r, n) for n, r in enumerate(take(others, 200))]
        mixed += events[k * per_events:(k + 1) * per_events]
        mixed += take(others, BATCH - len(mixed))  # unchanged, to the batch's size
        rng.shuffle(mixed)
        mixed[:50] = mixed[:25] * 2  # exact repeats inside the batch
        batches.append(("mixed", mixed))
    return batches


async def run(database_url: str, households: int, per_kind: int, profile: bool) -> None:
    from sqlalchemy import text

    from core.config import Settings
    from core.seed.loader import seed_registry
    from core.services.exchange import generate_records, ingest
    from spsr.bootstrap import build_core, freeze_startup

    freeze_startup()  # as spsr's entry point does
    core = await build_core(Settings.from_env({"SPSR_DATABASE_URL": database_url}))
    pg = core.engine.dialect.name == "postgresql"
    t = time.perf_counter()
    await seed_registry(core, households, 1140)
    print(f"  seed {households:,} households: {time.perf_counter() - t:.1f} s", flush=True)
    out = io.StringIO()
    written = await generate_records(core, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    print(f"  generated {written:,} records: {dict(Counter(r['item'].split('.')[0] for r in lines))}", flush=True)
    batches = build_batches(lines, per_kind)
    base = await baseline(core, BATCH)
    print(f"\n  baseline: {'COPY' if pg else 'executemany'} of {BATCH:,} exchange_records-shaped rows: "
          f"{base:.3f} s ({BATCH / base:,.0f} rows/s)\n")
    print(f"  {'batch':<12}{'seconds':>9}{'records/s':>11}{'× baseline':>11}  counts")
    per: dict[str, list[float]] = {}
    profiler = cProfile.Profile() if profile else None
    for kind, batch in batches:
        if profiler is not None and kind == "mixed":
            profiler.enable()
        t = time.perf_counter()
        result = await ingest(core, batch)
        took = time.perf_counter() - t
        if profiler is not None:
            profiler.disable()
        per.setdefault(kind, []).append(took)
        codes = Counter(code for _, code, _ in result.rejected)
        print(f"  {kind:<12}{took:9.3f}{len(batch) / took:11,.0f}{took / base:11.1f}  accepted {result.accepted}"
              f" superseded {result.superseded} unchanged {result.unchanged} stale {result.stale}"
              f" expired {result.expired} rejected {dict(codes)}", flush=True)
    print(f"\n  {'kind':<12}{'records/s':>11}  (mean of {per_kind}; baseline {BATCH / base:,.0f} rows/s)")
    for kind, times in per.items():
        print(f"  {kind:<12}{BATCH * len(times) / sum(times):11,.0f}")
    async with core.engine.connect() as conn:
        born = (await conn.execute(text("SELECT COUNT(*) FROM persons"))).scalar()
    print(f"  persons after: {born:,}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    await core.engine.dispose()


async def baseline(core: Any, n: int) -> float:
    """Seconds to write ``n`` rows of exchange_records' shape in one transaction, the fastest way."""

    pg = core.engine.dialect.name == "postgresql"
    now = dt.datetime(2026, 12, 10, tzinfo=dt.UTC)
    rows = [(i, "soliq", f"soliq.wage:{i}:2026-12", "soliq.wage", "31210632040244",
             json.dumps({"value": 1_000_000 + i, "key": f"2026-12/{300_000_000 + i}"}), dt.date(2026, 12, 10), now,
             "current") for i in range(1, n + 1)]
    ddl = (["CREATE TABLE bench_scratch (LIKE exchange_records INCLUDING ALL)"] if pg else
           ["CREATE TABLE bench_scratch (id INTEGER PRIMARY KEY, agency VARCHAR(40), agency_record_id VARCHAR(80),"
            " item VARCHAR(60), pinfl VARCHAR(14), value JSON, as_of DATE, received_at DATETIME,"
            " status VARCHAR(12), UNIQUE (agency, agency_record_id))",
            "CREATE INDEX ix_bench_scratch_pinfl ON bench_scratch (pinfl)"])
    return await bulk_write(core.engine, ddl, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=50_000)
    parser.add_argument("--database", required=True, help="postgresql://… (a scratch database is created) or a file")
    parser.add_argument("--batches", type=int, default=3, help="batches of each kind")
    parser.add_argument("--profile", action="store_true", help="profile the mixed batches")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    os.environ["SPSR_TODAY"] = TODAY
    with scratch_database(args.database, keep=args.keep) as url:
        print(f"{args.households:,} households on {url} ({dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores)")
        asyncio.run(run(url, args.households, args.batches, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
