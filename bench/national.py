"""National-scale benchmark: seed, assess --all, payroll open, against a bulk-insert baseline.

    .venv/bin/python bench/national.py --households 200000 --database postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/national.py --households 50000 --database /tmp/bench.db

Each step runs as a child process; its wall time and peak RSS (``wait4``) are printed. The
baseline writes as many rows as the payroll has into a scratch table: ``COPY`` on PostgreSQL,
``executemany`` on SQLite. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TODAY = "2026-12-10"
MONTH = "2027-03"  # after the months the seed freezes


def run_step(name: str, argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out = proc.stdout.read().strip().splitlines()[-1:] if proc.stdout else []
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_mb = usage.ru_maxrss / 1024
    print(f"  {name:<18} {seconds:9.1f} s  peak RSS {rss_mb:7.0f} MB  exit {proc.returncode}  {' '.join(out)}",
          flush=True)
    return seconds, rss_mb


CHILD = """
import asyncio, sys, time
from core.config import Settings
from spsr.bootstrap import build_core
async def main():
    core = await build_core(Settings.from_env())
    step = sys.argv[1]
    if step == "seed":
        from core.seed.loader import seed_registry
        report = await seed_registry(core, int(sys.argv[2]), 1)
        print(f"households {report.households}")
    elif step == "baseline":
        from sqlalchemy import text
        import datetime as dt
        n = int(sys.argv[2])
        rows = [(i, dt.date(2027, 3, 1), i, i, "child_benefit", 360000, dt.date(2027, 3, 4),
                 dt.date(2027, 3, 27), "scheduled") for i in range(1, n + 1)]
        ddl = ("CREATE TABLE bench_scratch (id bigint, cycle_month date, household_id bigint, enrolment_id bigint,"
               " programme varchar(24), amount bigint, window_start date, window_end date, status varchar(10))")
        async with core.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS bench_scratch"))
            await conn.execute(text(ddl))
        t = time.perf_counter()
        async with core.engine.begin() as conn:
            if core.engine.dialect.name == "postgresql":
                raw = await conn.get_raw_connection()
                await raw.driver_connection.copy_records_to_table("bench_scratch", records=rows)
            else:
                raw = await conn.get_raw_connection()
                cur = await raw.driver_connection.cursor()
                await cur.executemany("INSERT INTO bench_scratch VALUES (?,?,?,?,?,?,?,?,?)",
                                      [tuple(str(v) if isinstance(v, dt.date) else v for v in r) for r in rows])
        print(f"rows {n} write {time.perf_counter() - t:.2f}s")
    elif step == "count":
        from sqlalchemy import text
        async with core.engine.connect() as conn:
            print((await conn.execute(text("SELECT line_count FROM payment_cycles WHERE month = '2027-03-01'"))).scalar())
    await core.engine.dispose()
asyncio.run(main())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=200_000)
    parser.add_argument("--database", required=True, help="postgresql://… (a scratch database is created) or a file")
    parser.add_argument("--exchange", action="store_true", help="also generate and import agency records")
    args = parser.parse_args()

    env = dict(os.environ, SPSR_TODAY=TODAY)
    scratch = None
    if args.database.startswith("postgres"):
        import asyncpg  # noqa: F401  (the server must be reachable)

        base = args.database
        scratch = f"spsr_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(base, f'CREATE DATABASE "{scratch}"'))
        env["SPSR_DATABASE_URL"] = base.rsplit("/", 1)[0] + f"/{scratch}"
    else:
        Path(args.database).unlink(missing_ok=True)
        env["SPSR_DATABASE_URL"] = args.database
    spsr = [str(Path(PY).with_name("spsr"))]
    print(f"{args.households} households on {env['SPSR_DATABASE_URL']} ({dt.datetime.now():%Y-%m-%d %H:%M})")
    try:
        run_step("seed", [PY, "-c", CHILD, "seed", str(args.households)], env)
        if args.exchange:
            run_step("exchange generate", spsr + ["exchange", "generate", "--out", "/tmp/bench_exchange.jsonl"], env)
            run_step("exchange import", spsr + ["exchange", "import", "--quiet", "/tmp/bench_exchange.jsonl"], env)
        assess_s, assess_mb = run_step("assess --all", spsr + ["assess", "--all", "--quiet"], env)
        payroll_s, payroll_mb = run_step("payroll open", spsr + ["payroll", "open", "--month", MONTH, "--by", "bench"], env)
        lines = int(subprocess.run([PY, "-c", CHILD, "count"], env=env, cwd=ROOT, capture_output=True,
                                   text=True).stdout.strip() or 0)
        base_s, base_mb = run_step("baseline", [PY, "-c", CHILD, "baseline", str(args.households)], env)
        print(f"  payroll lines {lines}")
        for name, s in (("assess", assess_s), ("payroll", payroll_s)):
            print(f"  {name}: {args.households / s:,.0f} households/s, {s / base_s:.1f}x the baseline "
                  f"({args.households / base_s:,.0f} rows/s incl. process start)")
        print(f"  peak RSS: assess {assess_mb:.0f} MB, payroll {payroll_mb:.0f} MB, baseline {base_mb:.0f} MB")
    finally:
        if scratch is not None and not os.environ.get("BENCH_KEEP"):
            asyncio.run(_admin(args.database, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
    return 0


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.exit(main())
