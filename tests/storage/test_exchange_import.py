"""``spsr exchange import FILE`` and ``generate``: every data line is counted once, a file that
cannot be imported is said plainly before anything is stored, and what was stored is never lost."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.storage.schema import ExchangeRecord
from core.storage.uow import Core
from spsr.commands import exchange as exchange_command
from tests.cli import run_cli
from tests.storage.factories import make_family

pytestmark = pytest.mark.postgres

COLUMNS = ("agency", "item", "pinfl", "key", "value", "unit", "as_of", "record_id")


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The command reads the test's database; files go in a folder of their own."""
    monkeypatch.setenv("SPSR_DATABASE_URL", database_url)
    monkeypatch.setenv("SPSR_TODAY", "2026-12-10")
    folder = tmp_path / "files"  # apart from the test's SQLite database
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


async def spsr(*argv: str) -> tuple[int, str, str]:
    """``spsr ARGV`` (in a thread: the command runs its own loop); the exit code and what it printed."""
    return await asyncio.to_thread(run_cli, *argv)


def wages(pinfl: str, count: int) -> list[dict[str, Any]]:
    return [{"agency": "soliq", "item": "soliq.wage", "pinfl": pinfl, "key": f"2026-11/{301234500 + n}",
             "value": 100_000 + n, "unit": "UZS", "as_of": "2026-12-05", "record_id": f"W-{n}"}
            for n in range(count)]


def jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def csv_text(records: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS, sep: str = ",") -> str:
    lines = [sep.join(columns)] + [sep.join(str(r.get(c.lower().strip(), "")) for c in columns) for r in records]
    return "\n".join(lines) + "\n"


async def stored(core: Core) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(ExchangeRecord)) or 0)


def rejected(path: Path) -> list[tuple[int, str]]:
    target = path.with_name(path.name + ".rejected.jsonl")
    return [(e["line"], e["code"]) for e in map(json.loads, target.read_text().splitlines())]


async def test_a_csv_cut_inside_its_last_value_is_refused_as_truncated(core: Core, env: Path) -> None:
    _, head = await make_family(core)
    whole = csv_text(wages(head, 3))
    cut = env / "cut.csv"
    cut.write_text(whole[:-6])  # "100002\n" loses "0002\n": the last wage would read 10
    code, out, err = await spsr("exchange", "import", "--quiet", str(cut))
    assert (code, out.split(":")[0]) == (1, "3 records")
    assert rejected(cut) == [(4, "exchange.truncated_line")]
    assert "end the file with a newline and import it again" in err
    cut.write_text(whole)
    code, out, _ = await spsr("exchange", "import", "--quiet", str(cut))
    assert code == 0 and "accepted 1, superseded 0, stale 0, unchanged 2, rejected 0" in out
    assert not (env / "cut.csv.rejected.jsonl").exists()


@pytest.mark.parametrize(("name", "text", "says"), [
    ("no_header.csv", lambda head: csv_text(wages(head, 3)).split("\n", 1)[1],
     "line 1 is not a CSV header naming the columns agency,item,pinfl,key,value,unit,as_of,record_id"),
    ("lines.csv", lambda head: jsonl(wages(head, 3)), "it looks like JSON lines: name the file .jsonl"),
    ("table.jsonl", lambda head: csv_text(wages(head, 3)), "line 1 is a CSV header"),
    ("twice.csv", lambda head: csv_text(wages(head, 2), COLUMNS + ("value",)), "names the column value twice"),
    ("empty.jsonl", lambda head: "", "no records in empty.jsonl"),
    ("blank.jsonl", lambda head: "\n  \n", "no records in blank.jsonl"),
    ("header.csv", lambda head: ",".join(COLUMNS) + "\n", "no records in header.csv"),
])
async def test_a_file_that_cannot_be_imported_is_said_before_anything_is_stored(
        core: Core, env: Path, name: str, text: Any, says: str) -> None:
    _, head = await make_family(core)
    (env / name).write_text(text(head))
    code, out, err = await spsr("exchange", "import", "--quiet", name)
    assert (code, out) == (2, "") and says in err, err
    assert await stored(core) == 0
    assert sorted(p.name for p in env.iterdir()) == [name]


async def test_paths_and_bytes_that_are_not_a_batch_file_are_said_plainly(env: Path) -> None:
    (env / "binary.jsonl").write_bytes(bytes(range(256)) * 4)
    (env / "wide.csv").write_bytes(",".join(COLUMNS).encode("utf-16") + b"\n")
    for argv, says in [
        (["import", "missing.jsonl"], "missing.jsonl: no such file"),
        (["import", "."], ".: is a folder, not a file"),
        (["import", "binary.jsonl"], "binary.jsonl: holds NUL bytes"),
        (["import", "wide.csv"], "wide.csv: is UTF-16 text; save it as UTF-8"),
        (["generate", "--out", "nowhere/f.jsonl"], "nowhere: no such folder"),
        (["generate", "--out", "."], ".: is a folder; give a file name"),
    ]:
        code, out, err = await spsr("exchange", *argv)
        assert (code, out) == (2, "") and says in err, (argv, err)
    assert sorted(p.name for p in env.iterdir()) == ["binary.jsonl", "wide.csv"]  # no rejected files


async def test_a_line_that_is_not_utf8_is_refused_alone_in_file_order(core: Core, env: Path) -> None:
    _, head = await make_family(core)
    records = wages(head, 30)
    records[21]["value"] = -1  # invalid, before the unreadable line in the same batch
    lines = jsonl(records).encode().split(b"\n")
    lines[25] = lines[25].replace(b"soliq.wage", b"soliq.w\xffge")
    path = env / "bytes.jsonl"
    path.write_bytes(b"\n".join(lines))
    code, out, _ = await spsr("exchange", "import", "--quiet", "--batch", "10", str(path))
    assert code == 1 and out.startswith("30 records: accepted 28, superseded 0, stale 0, unchanged 0, rejected 2")
    assert rejected(path) == [(22, "exchange.bad_value"), (26, "exchange.not_utf8")]
    assert await stored(core) == 28


async def test_a_crash_or_ctrl_c_mid_import_keeps_and_reports_what_was_stored(
        core: Core, env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, head = await make_family(core)
    path = env / "big.jsonl"
    records = wages(head, 25)
    records[0]["value"] = "lots"
    path.write_text(jsonl(records))
    ingest = exchange_command.ingest
    # A crash is exit 3, not 1 (which says records were refused); its text (a database error's
    # holds the statement and its PINFLs) is not printed, only what kind of error it was.
    for stop, exit_code, counts in [(KeyboardInterrupt(), 130, "accepted 19, superseded 0, stale 0, unchanged 0"),
                                    (RuntimeError(f"database gone: {head}"), 3,
                                     "accepted 0, superseded 0, stale 0, unchanged 19")]:
        calls = 0

        async def failing(*args: Any, stop: BaseException = stop) -> Any:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise stop
            return await ingest(*args)

        monkeypatch.setattr(exchange_command, "ingest", failing)
        code, out, err = await spsr("exchange", "import", "--quiet", "--batch", "10", str(path))
        assert code == exit_code
        assert out.startswith(f"20 records: {counts}, rejected 1")
        assert "import stopped" in err and "after line 20; the records up to it are stored" in err
        assert ("by an error (RuntimeError)" in err) == (exit_code == 3) and head not in err + out
        assert rejected(path) == [(1, "exchange.wrong_type")]
    assert await stored(core) == 19
    monkeypatch.setattr(exchange_command, "ingest", ingest)
    code, out, _ = await spsr("exchange", "import", "--quiet", "--batch", "10", str(path))
    assert "accepted 5, superseded 0, stale 0, unchanged 19, rejected 1" in out


async def test_a_byte_order_mark_capitals_and_semicolons_are_read(core: Core, env: Path) -> None:
    _, head = await make_family(core)
    (env / "bom.jsonl").write_text("\ufeff" + jsonl(wages(head, 2)))
    columns = tuple(f" {c.upper()} " for c in reversed(COLUMNS) if c != "unit")
    (env / "excel.csv").write_text("\ufeff" + csv_text(wages(head, 4), columns, ";"))
    code, out, err = await spsr("exchange", "import", "--quiet", "bom.jsonl")
    assert (code, out.split(",")[0]) == (0, "2 records: accepted 2"), err
    code, out, err = await spsr("exchange", "import", "--quiet", "excel.csv")
    assert code == 0 and "accepted 2, superseded 0, stale 0, unchanged 2, rejected 0" in out, err


async def test_a_record_twice_means_the_same_however_the_file_is_cut_into_batches(core: Core, env: Path) -> None:
    """The same record twice is one record, unchanged the second time, in one batch or two; the
    same record id with other content is refused either way (in one batch, or against the first)."""
    _, head = await make_family(core)
    [record] = wages(head, 1)
    (env / "twice.jsonl").write_text(jsonl([record, record]))
    code, out, _ = await spsr("exchange", "import", "--quiet", "twice.jsonl")
    assert (code, out) == (0, "2 records: accepted 1, superseded 0, stale 0, unchanged 1, rejected 0\n")
    code, out, _ = await spsr("exchange", "import", "--quiet", "--batch", "1", "twice.jsonl")
    assert (code, out) == (0, "2 records: accepted 0, superseded 0, stale 0, unchanged 2, rejected 0\n")
    (env / "other.jsonl").write_text(jsonl([{**record, "record_id": "X"}, {**record, "record_id": "X", "value": 9}]))
    code, out, _ = await spsr("exchange", "import", "--quiet", "--batch", "1", "other.jsonl")
    assert code == 1 and rejected(env / "other.jsonl") == [(2, "exchange.record_id_reused")]
    (env / "other.jsonl").write_text(jsonl([{**record, "record_id": "Y"}, {**record, "record_id": "Y", "value": 9}]))
    code, out, _ = await spsr("exchange", "import", "--quiet", "other.jsonl")
    assert code == 1 and rejected(env / "other.jsonl") == [(2, "exchange.duplicate_in_batch")]


async def test_a_number_too_large_is_refused_and_the_rest_stored(core: Core, env: Path) -> None:
    _, head = await make_family(core)
    path = env / "big.jsonl"
    path.write_text(jsonl(wages(head, 3)).replace('"value": 100001', '"value": 99999999999999999999'))
    code, out, _ = await spsr("exchange", "import", "--quiet", str(path))
    assert code == 1 and out.startswith("3 records: accepted 2")
    assert rejected(path) == [(2, "exchange.bad_value")]


async def test_the_progress_bar_counts_the_file_s_lines(core: Core, env: Path) -> None:
    _, head = await make_family(core)
    (env / "w.csv").write_text(csv_text(wages(head, 5)) + "\n\n")
    code, _, err = await spsr("exchange", "import", "--batch", "2", "w.csv")
    assert code == 0
    shown = [part.split(" lines")[0].split("] ")[1] for part in err.split("\r") if " lines" in part]
    assert shown[-1] == "8/8" and all(s.endswith("/8") for s in shown), shown



async def test_a_file_and_the_api_read_a_record_alike(core: Core, env: Path) -> None:
    """A field named twice is refused (the API refuses such a body) rather than read as its last
    value; NaN is no JSON; the rejected file is JSON throughout and keeps each line as it stood."""
    _, head = await make_family(core)
    first, second, third = (json.dumps(r) for r in wages(head, 3))
    twice = first[:-1] + ', "value": 5000000}'
    nan = second.replace('"value": 100001', '"value": NaN')
    surrogate = third.replace('"W-2"', '"W-\\udc00"')
    (env / "odd.jsonl").write_text("\n".join([twice, nan, surrogate, "{broken"]) + "\n")
    code, out, _ = await spsr("exchange", "import", "--quiet", "odd.jsonl")
    assert code == 1 and out.startswith("4 records: accepted 0")
    entries = [json.loads(line) for line in (env / "odd.jsonl.rejected.jsonl").read_text().splitlines()]
    assert [(e["line"], e["code"]) for e in entries] == [
        (1, "exchange.duplicate_field"), (2, "exchange.malformed_line"), (3, "exchange.bad_record_id"),
        (4, "exchange.malformed_line")]
    assert [e["text"] for e in entries] == [twice, nan, surrogate, "{broken"]
    assert entries[0]["params"] == {"line": 1, "field": "value"} and entries[3]["record"] is None
    assert await stored(core) == 0


async def test_csv_fields_are_trimmed_and_a_quoted_line_break_is_one_record(core: Core, env: Path) -> None:
    _, head = await make_family(core)
    rows = [f"vtek,vtek.disability_group,{head},, group1 ,,2026-12-05, ws-rid ",
            f'bank,bank.social_card,{head},,"8600 1234\n5678 9012",,2026-12-05,C-1',
            f"soliq,soliq.wage,{head},2026-11/301234567,700000, UZS ,2026-12-05,W-1",
            f"soliq,soliq.wage,{head},2026-11/301234568,700000,2026-12-05,W-2"]
    (env / "spaces.csv").write_text(",".join(COLUMNS) + "\n" + "\n".join(rows) + "\n")
    code, out, err = await spsr("exchange", "import", "--quiet", "spaces.csv")
    assert code == 1 and out.startswith("4 records: accepted 3"), out + err
    [entry] = [json.loads(line) for line in (env / "spaces.csv.rejected.jsonl").read_text().splitlines()]
    assert (entry["line"], entry["code"], entry["params"]) == (
        6, "exchange.malformed_line", {"line": 6, "reason": "columns", "expected": 8, "got": 7})
    assert entry["text"] == rows[3]
    async with core.uow() as uow:
        ids = set((await uow.session.scalars(select(ExchangeRecord.agency_record_id))).all())
    assert ids == {"ws-rid", "C-1", "W-1"}


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_a_signal_rolls_back_the_open_batch_and_says_what_was_stored(
        core: Core, env: Path, signum: signal.Signals, status: int) -> None:
    """Ctrl-C or a service manager's SIGTERM: the batch in progress is rolled back at once (on
    PostgreSQL an interrupted executemany once left the session waiting in ClientRead, holding
    its locks, for ever), the summary says what the committed batches stored, and no temporary
    file stays behind."""
    _, head = await make_family(core)
    path = env / "long.jsonl"
    path.write_text(jsonl([{**w, "key": f"2026-11/3{n:08d}"} for n, w in enumerate(wages(head, 6000))]))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "spsr.cli", "exchange", "import", "--quiet", "--batch", "200", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    for _ in range(600):  # the rejected file is opened once the command can stop cleanly
        if any(p.name.endswith(".part") for p in env.iterdir()) or process.returncode is not None:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    process.send_signal(signum)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == status, err.decode()
    summary = out.decode()
    assert " records: accepted " in summary
    assert "import stopped" in err.decode()
    accepted = int(summary.split("accepted ")[1].split(",")[0])
    assert await stored(core) == accepted < 6000
    assert sorted(p.name for p in env.iterdir()) == ["long.jsonl"]
