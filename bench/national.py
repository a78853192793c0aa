"""National-scale benchmark: seed, assess --all, payroll open, a day's assess, against a bulk-write baseline.

    .venv/bin/python bench/national.py --households 2000000 --database postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/national.py --households 200000 --database /tmp/bench.db

Each step runs in a child process of its own, as the ``spsr`` command would; the child times
the operation itself (so the figures leave out Python's start-up) and the parent reads the
child's peak RSS (``wait4``). Under ``assess --all`` two floors are timed over the same ranges
and workers: reading every household's figures (the statement's joins and aggregates, nothing
computed or written), and writing the decisions it made again into a table of their shape (no
reading of the registry, no computing). A third, ``output alone``, writes everything the pass wrote
(its decisions, the enrolments they began, the notices queued) again by ``COPY`` into tables of their
shape, indexes included (on SQLite by ``INSERT … SELECT``): what no design of the pass can beat. The day's assess marks every hundredth family changed, as imported
agency data does, and times ``spsr assess`` without ``--all``. The baseline writes as many rows as the payroll has, in one
transaction, into a scratch table of the payroll's shape: ``COPY`` on PostgreSQL,
``executemany`` on SQLite (it has no COPY). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_database  # noqa: E402

PY = sys.executable
TODAY = "2026-12-10"
MONTH = "2027-01"  # after the months the seed freezes; the furthest one open on TODAY

CHILD = """
import asyncio, sys, time, datetime as dt
from core.config import Settings
from spsr.bootstrap import build_core, freeze_startup
from core.storage.uow import Actor

# Imported before the clock starts: the spsr command has them loaded before it works too.
from core.seed.loader import seed_registry
from core.services.assessment import assess_households
from core.services.payments import open_payroll, parse_month

async def main():
    freeze_startup()  # as spsr's entry point does
    core = await build_core(Settings.from_env())
    step, arg = sys.argv[1], sys.argv[2]
    t = time.perf_counter()
    if step == "seed":
        report = await seed_registry(core, int(arg), 1)
        note = f"households {report.households}"
    elif step == "assess":
        note = str(await assess_households(core, everything=True))
    elif step == "daily":
        # A day's changes: every hundredth family's data changed (marked as an import marks them).
        from sqlalchemy import text
        async with core.engine.begin() as conn:
            await conn.execute(text("UPDATE households SET data_changed_at = :now WHERE id % 100 = 0"),
                               {"now": core.clock.now()})
        t = time.perf_counter()
        note = str(await assess_households(core))
    elif step in ("reading", "writing"):
        # Floors under assess --all: the same ranges and workers, doing only one half of its work.
        from sqlalchemy import text
        from core.eligibility import rules_in_force
        from core.services.assessment import CHUNK, RANGE_SETTINGS
        from core.storage import assessment_sql as q
        pg = core.engine.dialect.name == "postgresql"
        if step == "reading":  # every household's figures read and joined, nothing computed or written
            rules = rules_in_force(core.clock.today(), core.book)
            cte = q.figures_cte(rules, q.Dialect(core.engine.dialect.name), everything=True)
            # Every figure used: a join whose columns go unused is left out by PostgreSQL's planner.
            bodies = "".join(f" + body_{i}" for i in range(len(rules.service_bodies)))
            sql = (cte + " SELECT COUNT(*), SUM(n + unborn + able + children + res + nonres + rw + COALESCE(newest, 0)"
                   f"{bodies} + CASE WHEN youngest IS NULL THEN 0 ELSE 1 END + LENGTH(COALESCE(src, ''))),"
                   " SUM(total), SUM(bank) FROM base")
        else:  # the decisions assess --all wrote, written again into a table of their shape
            async with core.engine.begin() as conn:
                await conn.execute(text("DROP TABLE IF EXISTS bench_decisions"))
                if pg:
                    await conn.execute(text("CREATE TABLE bench_decisions (LIKE decisions INCLUDING ALL)"))
                else:
                    ddl = (await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'decisions'"))).scalar()
                    await conn.execute(text(ddl.replace("decisions", "bench_decisions", 1)))
                    await conn.execute(text("CREATE INDEX ix_bench_decisions ON bench_decisions (household_id, id)"))
            sql = ("INSERT INTO bench_decisions SELECT * FROM decisions"
                   " WHERE application_id IS NULL AND household_id BETWEEN :lo AND :hi")
        async with core.engine.connect() as conn:
            low, high = (await conn.execute(text("SELECT MIN(id), MAX(id) FROM households"))).one()
        ranges = iter(range(low, high + 1, CHUNK))
        t = time.perf_counter()

        async def worker():
            for lo in ranges:
                async with core.engine.begin() as conn:
                    for setting in RANGE_SETTINGS if pg else ():
                        await conn.execute(text(setting))
                    await conn.execute(text(sql), {"lo": lo, "hi": lo + CHUNK - 1})

        await asyncio.gather(*(worker() for _ in range(2 if pg else 1)))
        took = time.perf_counter() - t
        if step == "writing":
            async with core.engine.begin() as conn:
                note = f"rows {(await conn.execute(text('SELECT COUNT(*) FROM bench_decisions'))).scalar()}"
                await conn.execute(text("DROP TABLE bench_decisions"))
        else:
            note = "households read"
        print(f"took {took:.3f} {note}")
        await core.engine.dispose()
        return
    elif step == "output":
        # What assess --all had to write (its decisions, the enrolments they began, the notices
        # queued), written again as fast as the database writes rows, into tables of their shape
        # (indexes included): COPY on PostgreSQL, INSERT … SELECT on SQLite. No design of the pass
        # can write its output faster than this.
        import os, tempfile
        from sqlalchemy import text
        pg = core.engine.dialect.name == "postgresql"
        async with core.engine.connect() as conn:
            began = (await conn.execute(text(
                "SELECT MIN(started_at) FROM assessment_runs WHERE everything"))).scalar()
        parts = {
            "decisions": "SELECT * FROM decisions WHERE application_id IS NULL",
            "enrolments": "SELECT * FROM enrolments WHERE decision_id IN"
                          " (SELECT id FROM decisions WHERE application_id IS NULL)",
            "outbox": "SELECT * FROM outbox WHERE template LIKE 'enrolment.%' AND created_at >= :began",
        }
        async with core.engine.begin() as conn:
            for table in parts:
                await conn.execute(text(f"DROP TABLE IF EXISTS bench_out_{table}"))
                if pg:
                    await conn.execute(text(f"CREATE TABLE bench_out_{table} (LIKE {table} INCLUDING ALL)"))
                else:  # the table's own DDL, then its indexes', renamed
                    for kind, ddl in (await conn.execute(text(
                            "SELECT type, sql FROM sqlite_master WHERE tbl_name = :t AND sql IS NOT NULL"
                            " ORDER BY type DESC"), {"t": table})).all():
                        ddl = ddl.replace(f'"{table}"', table)
                        if kind == "table":
                            ddl = ddl.replace(f"TABLE {table} ", f"TABLE bench_out_{table} ", 1)
                        else:
                            ddl = ddl.replace("INDEX ", "INDEX bench_out_", 1).replace(
                                f" ON {table} ", f" ON bench_out_{table} ", 1)
                        await conn.execute(text(ddl))
        rows = 0
        files = {}
        if pg:
            async with core.engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                for table, sql in parts.items():
                    fd, files[table] = tempfile.mkstemp(prefix=f"bench_out_{table}_")
                    os.close(fd)
                    await raw.copy_from_query(sql.replace(":began", "$1"), *([began] if ":began" in sql else []),
                                              output=files[table], format="binary")
        each = []
        t = time.perf_counter()
        async with core.engine.begin() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            for table, sql in parts.items():
                t1 = time.perf_counter()
                if pg:
                    done = await raw.copy_to_table(f"bench_out_{table}", source=files[table], format="binary")
                    n = int(done.split()[-1])
                else:
                    n = (await conn.execute(text(f"INSERT INTO bench_out_{table} {sql}"),
                                            {"began": began} if ":began" in sql else {})).rowcount
                rows += n
                each.append(f"{table} {n:,} in {time.perf_counter() - t1:.2f} s")
        took = time.perf_counter() - t
        async with core.engine.begin() as conn:
            for table in parts:
                await conn.execute(text(f"DROP TABLE bench_out_{table}"))
        for f in files.values():
            os.unlink(f)
        print(f"took {took:.3f} rows {rows}: {', '.join(each)}")
        await core.engine.dispose()
        return
    elif step == "payroll":
        view = await open_payroll(core, parse_month(arg), Actor("staff", "bench", "cli"))
        note = f"lines {view.line_count}"
    elif step == "count":
        from sqlalchemy import text
        async with core.engine.connect() as conn:
            n = (await conn.execute(text(f"SELECT line_count FROM payment_cycles WHERE month = '{arg}-01'"))).scalar()
        note = f"lines {n or 0}"
    elif step == "baseline":
        from sqlalchemy import text
        n = int(arg)
        rows = [(i, dt.date(2027, 1, 1), i, i, "child_benefit", 360000, dt.date(2027, 1, 4),
                 dt.date(2027, 1, 27), "scheduled", dt.datetime(2026, 12, 10, tzinfo=dt.timezone.utc))
                for i in range(1, n + 1)]
        ddl = ("CREATE TABLE bench_scratch (id bigint, cycle_month date, household_id bigint, enrolment_id bigint,"
               " programme varchar(24), amount bigint, window_start date, window_end date, status varchar(10),"
               " updated_at timestamp with time zone)")
        from bench.scratch import bulk_write
        took = await bulk_write(core.engine, [ddl], rows)
        print(f"took {took:.3f} rows {n}")
        await core.engine.dispose()
        return
    print(f"took {time.perf_counter() - t:.3f} {note}")
    await core.engine.dispose()

asyncio.run(main())
"""


def run_step(name: str, argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run one step; (seconds the operation took, peak RSS in MB, the child's note)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().strip().splitlines() if proc.stdout else []
    last = out[-1] if out else ""
    code = os.waitstatus_to_exitcode(status)
    seconds = float(last.split()[1]) if last.startswith("took ") else wall
    note = last.split(" ", 2)[2] if last.startswith("took ") and len(last.split(" ", 2)) > 2 else last
    rss_mb = usage.ru_maxrss / 1024
    print(f"  {name:<18} {seconds:9.2f} s  (process {wall:7.1f} s)  peak RSS {rss_mb:5.0f} MB  exit {code}  {note}",
          flush=True)
    if code != 0:
        raise SystemExit(f"{name} failed")
    return seconds, rss_mb, note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=200_000)
    parser.add_argument("--database", required=True, help="postgresql://… (a scratch database is created) or a file")
    parser.add_argument("--exchange", action="store_true", help="also generate and import agency records")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    with scratch_database(args.database, keep=args.keep) as url:
        return _run(args, dict(os.environ, SPSR_TODAY=TODAY, SPSR_DATABASE_URL=url))


def _run(args: argparse.Namespace, env: dict[str, str]) -> int:
    spsr = str(Path(PY).with_name("spsr"))
    child = [PY, "-c", CHILD]
    print(f"{args.households:,} households on {env['SPSR_DATABASE_URL']} ({dt.datetime.now():%Y-%m-%d %H:%M}, "
          f"{os.cpu_count()} cores)")
    subprocess.run([spsr, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    seed_s, seed_mb, _ = run_step("seed", child + ["seed", str(args.households)], env)
    if args.exchange:
        run_step("exchange generate", [spsr, "exchange", "generate", "--out", "/tmp/bench_exchange.jsonl"], env)
        run_step("exchange import", [spsr, "exchange", "import", "--quiet", "/tmp/bench_exchange.jsonl"], env)
    assess_s, assess_mb, _ = run_step("assess --all", child + ["assess", "-"], env)
    read_s, read_mb, _ = run_step("  reading only", child + ["reading", "-"], env)
    write_s, write_mb, _ = run_step("  writing only", child + ["writing", "-"], env)
    out_s, out_mb, out_note = run_step("  output alone", child + ["output", "-"], env)
    out_rows = int(out_note.split()[1].rstrip(":"))
    payroll_s, payroll_mb, note = run_step("payroll open", child + ["payroll", MONTH], env)
    lines = int(note.split()[-1])
    daily_s, daily_mb, daily = run_step("assess (1% due)", child + ["daily", "-"], env)
    daily_n = int(daily.split(",")[0].split()[-1])
    base_s, base_mb, _ = run_step("baseline", child + ["baseline", str(lines)], env)
    kind = "COPY" if env["SPSR_DATABASE_URL"].startswith("postgres") else "executemany"
    print(f"\n  baseline: {kind} of {lines:,} payroll-shaped rows in {base_s:.2f} s "
          f"({lines / base_s:,.0f} rows/s)")
    print(f"  {'step':<14}{'seconds':>9}{'rows/s':>12}{'× baseline':>12}{'peak RSS':>10}")
    for name, s, rows, mb in (("seed", seed_s, args.households, seed_mb),
                              ("assess --all", assess_s, args.households, assess_mb),
                              ("  reading", read_s, args.households, read_mb),
                              ("  writing", write_s, args.households, write_mb),
                              ("  output", out_s, out_rows, out_mb),
                              ("payroll open", payroll_s, lines, payroll_mb),
                              ("assess 1% due", daily_s, daily_n, daily_mb)):
        print(f"  {name:<14}{s:9.2f}{rows / s:12,.0f}{s / base_s:12.1f}{mb:8.0f} MB")
    return 0



if __name__ == "__main__":
    sys.exit(main())
