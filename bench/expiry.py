"""Value-expiry benchmark: seed a registry, move the date on, time ``spsr exchange expire``.

    .venv/bin/python bench/expiry.py --households 200000 --database postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/expiry.py --households 40000 --database /tmp/bench_expiry.db

The seed writes the agency records behind its data (incomes, vehicles, properties, balances,
disability, service) as of the seed's date. The expiry step runs ``expire_facts`` with the date
moved ``--days`` on (183 by default: every income and balance lapses, vehicles and properties do
not) in a child process of its own, as the ``spsr`` command would; the child times the operation
itself, and the parent reads its peak RSS. The baseline writes as many rows as values were retired,
in one transaction, into a scratch table of the facts' shape: ``COPY`` on PostgreSQL,
``executemany`` on SQLite. Figures are printed, never asserted.

``--keep`` keeps the seeded registry (before expiry) and prints its name; ``--reuse NAME`` (a
database name, or a file) expires a copy of it instead of seeding, so two versions of the code are
timed on the same data. ``--digest`` prints a hash of every table expiry writes, after it, so two
versions can be compared for identical results.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from national import CHILD, PY, ROOT, TODAY, run_step  # noqa: E402

from bench.scratch import admin as _admin  # noqa: E402

EXPIRY_CHILD = """
import asyncio, sys, time, datetime as dt, hashlib
from sqlalchemy import text
from core.config import Settings
from spsr.bootstrap import build_core, freeze_startup
from core.services.exchange import expire_facts

# The digest: every table expiry writes, in a stable order (the households stamped, by id).
DIGEST = (
    ("incomes", "SELECT person_id, month, source, amount, agency FROM incomes ORDER BY person_id, month, source"),
    ("vehicles", "SELECT person_id, plate, kind, year, roadworthy FROM vehicles ORDER BY person_id, plate"),
    ("properties", "SELECT person_id, cadastre_number, kind FROM properties ORDER BY person_id, cadastre_number, kind"),
    ("balances", "SELECT person_id, amount, as_of FROM bank_balances ORDER BY person_id"),
    ("persons", "SELECT id, disability, service_body, died_on FROM persons ORDER BY id"),
    ("facts", "SELECT pinfl, item, record_id FROM facts ORDER BY pinfl, item"),
    ("records", "SELECT id, status FROM exchange_records ORDER BY id"),
    ("stamped", "SELECT id FROM households WHERE data_changed_at >= :day ORDER BY id"),
)

async def main():
    freeze_startup()
    core = await build_core(Settings.from_env())
    step, arg = sys.argv[1], sys.argv[2]
    t = time.perf_counter()
    if step == "expire":
        note = f"values {await expire_facts(core)}"
    elif step == "digest":
        parts = []
        day = dt.datetime.combine(core.clock.today(), dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=5)))
        async with core.engine.connect() as conn:
            for name, sql in DIGEST:
                h, n = hashlib.sha256(), 0
                result = await conn.stream(text(sql), {"day": day})
                async for row in result:
                    h.update(repr(tuple(str(v) for v in row)).encode())
                    n += 1
                parts.append(f"{name}:{n}:{h.hexdigest()[:12]}")
        note = " ".join(parts)
    elif step == "baseline":
        n = int(arg)
        when = dt.datetime(2026, 12, 10, tzinfo=dt.timezone.utc)
        rows = [(f"{30000000000000 + i // 6}", f"soliq.wage|2026-{i % 6 + 1:02d}/123456789", i // 24,
                 '{"value":1500000}', "soliq", f"seed-{i}", dt.date(2026, 12, 1), when, i) for i in range(n)]
        ddl = ("CREATE TABLE bench_scratch (pinfl varchar(14), item varchar(60), household_id bigint, value text,"
               " agency varchar(40), agency_record_id varchar(80), as_of date, received_at timestamp with time zone,"
               " record_id bigint)")
        from bench.scratch import bulk_write
        took = await bulk_write(core.engine, [ddl], rows)
        print(f"took {took:.3f} rows {n}")
        await core.engine.dispose()
        return
    print(f"took {time.perf_counter() - t:.3f} {note}")
    await core.engine.dispose()

asyncio.run(main())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=200_000)
    parser.add_argument("--database", required=True, help="postgresql://… (a scratch database is created) or a file")
    parser.add_argument("--days", type=int, default=183, help="how far the date moves on before expiry")
    parser.add_argument("--keep", action="store_true", help="keep the seeded registry (before expiry)")
    parser.add_argument("--reuse", help="a registry kept by --keep (database name or file): expire a copy of it")
    parser.add_argument("--digest", action="store_true", help="print a hash of the tables expiry writes")
    args = parser.parse_args()

    pg = args.database.startswith("postgres")
    env = dict(os.environ, SPSR_TODAY=TODAY)
    server = args.database.rsplit("/", 1)[0] if pg else ""
    tag = uuid.uuid4().hex[:8]
    seeded = args.reuse or (f"spsr_bench_{tag}" if pg else args.database)
    work = f"spsr_bench_{tag}_expiry" if pg else f"{seeded}.expiry.db"
    later = (dt.date.fromisoformat(TODAY) + dt.timedelta(days=args.days)).isoformat()
    child, expiry = [PY, "-c", CHILD], [PY, "-c", EXPIRY_CHILD]
    # The code under ROOT, not the installed ``spsr`` (a worktree of another version times that one).
    upgrade = [PY, "-c", "import sys; from spsr.cli import main; sys.exit(main())", "db", "upgrade"]
    print(f"expiry on {server or 'SQLite'} ({dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores): "
          f"seeded on {TODAY}, expired on {later}")
    try:
        if args.reuse is None:
            if pg:
                asyncio.run(_admin(args.database, f'CREATE DATABASE "{seeded}"'))
                env["SPSR_DATABASE_URL"] = f"{server}/{seeded}"
            else:
                Path(seeded).unlink(missing_ok=True)
                env["SPSR_DATABASE_URL"] = seeded
            subprocess.run(upgrade, env=env, cwd=ROOT, check=True, capture_output=True)
            run_step("seed", child + ["seed", str(args.households)], env)
        # Expire a copy: the seeded registry stays as it was for the next run.
        if pg:
            asyncio.run(_admin(args.database, f'CREATE DATABASE "{work}" TEMPLATE "{seeded}"'))
            env["SPSR_DATABASE_URL"] = f"{server}/{work}"
        else:
            shutil.copyfile(seeded, work)
            env["SPSR_DATABASE_URL"] = work
        env["SPSR_TODAY"] = later
        # A registry kept by an older version takes this version's migrations first (not timed).
        subprocess.run(upgrade, env=env, cwd=ROOT, check=True, capture_output=True)
        expire_s, expire_mb, note = run_step("expire", expiry + ["expire", "-"], env)
        values = int(note.split()[-1])
        if args.digest:
            run_step("digest", expiry + ["digest", "-"], env)
        base_s, _, _ = run_step("baseline", expiry + ["baseline", str(max(values, 1))], env)
        kind = "COPY" if pg else "executemany"
        print(f"\n  baseline: {kind} of {values:,} fact-shaped rows in {base_s:.2f} s ({values / base_s:,.0f} rows/s)")
        print(f"  expire: {values:,} values in {expire_s:.2f} s ({values / expire_s:,.0f} values/s, "
              f"{expire_s / base_s:.1f} × baseline, peak RSS {expire_mb:.0f} MB)")
        if args.keep and args.reuse is None:
            print(f"  kept the seeded registry: --reuse {seeded}")
    finally:
        if pg:
            asyncio.run(_admin(args.database, f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)'))
            if args.reuse is None and not args.keep:
                asyncio.run(_admin(args.database, f'DROP DATABASE IF EXISTS "{seeded}" WITH (FORCE)'))
        else:
            for path in (work, f"{work}-wal", f"{work}-shm"):
                Path(path).unlink(missing_ok=True)
            if args.reuse is None and not args.keep:
                Path(seeded).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
