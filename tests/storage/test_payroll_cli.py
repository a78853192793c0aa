"""``spsr payroll`` at the command line, on a seeded SQLite registry (10 December 2026): refusals
are plain sentences ending with their code, files that cannot be used are said plainly (never a
traceback), and a refused export leaves the bank file it would have written as it was."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from core.errors import InvalidInput
from core.i18n import use_locale
from core.services.messages import ERRORS, error_text
from core.services.payments import PAYMENT_SERVICE_ERROR_CODES, parse_month
from spsr.commands.payroll import MESSAGES, describe
from tests.cli import run_cli

HEADER = "line_id,status,amount,reason,bank_reference\n"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "seeded.db"
    run = subprocess.run([sys.executable, "-m", "spsr.cli", "seed", "--households", "60", "--seed", "1140"],
                         env=_env(path), capture_output=True, text=True, timeout=300, cwd=path.parent)
    assert run.returncode == 0, run.stderr
    return path


@pytest.fixture
def registry(seeded: Path, tmp_path: Path) -> Path:
    """A copy of the seeded registry, and the folder the commands run in."""
    shutil.copyfile(seeded, tmp_path / "spsr.db")
    return tmp_path


def _env(db: Path) -> dict[str, str]:
    env = {**os.environ, "SPSR_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "SPSR_TODAY": "2026-12-10"}
    env.pop("SPSR_TEST_POSTGRES_URL", None)
    return env


def spsr(folder: Path, *argv: str) -> SimpleNamespace:
    """``spsr payroll ARGV`` in this process, run in ``folder`` on its registry."""
    with mock.patch.dict(os.environ, _env(folder / "spsr.db"), clear=True), contextlib.chdir(folder):
        code, out, err = run_cli("payroll", *argv)
    assert "Traceback" not in err, err
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


def test_every_refusal_has_a_sentence() -> None:
    assert set(PAYMENT_SERVICE_ERROR_CODES) <= MESSAGES.keys()
    assert describe("payroll.month", {"month": "2026-13"}) == (
        "'2026-13' is not a month: write it as YYYY-MM, for example 2026-12")


@pytest.mark.parametrize("typed", ["2027-+5", "2027- 1", "2027-1 2", "\u0662\u0660\u0662\u0667-\u0660\u0665",
                                   "２０２７-０５", "2027-05-01", "2027-13", "0000-05", "27-05", "2027_05", ""])
def test_a_month_is_ascii_yyyy_mm_and_a_refusal_quotes_what_was_typed(typed: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_month(typed)
    assert err.value.params == {"month": typed}
    assert describe(err.value.code, err.value.params).startswith(f"{typed!r} is not a month")


def test_a_month_may_have_one_digit_and_spaces_around() -> None:
    assert parse_month(" 2027-5\t") == parse_month("2027-05") == dt.date(2027, 5, 1)


@pytest.mark.parametrize("language", ["uz", "kaa", "ru"])
def test_the_payroll_refusals_worded_for_other_front_ends_are_translated(language: str) -> None:
    params = {"seconds": 10, "month": "2027-03-01", "line_id": 2027010000000001, "on": "2026-12-10", "limit": 80}
    codes = [code for code in ERRORS if code.startswith("payroll.")]
    assert codes and set(codes) <= set(PAYMENT_SERVICE_ERROR_CODES)
    for code in codes:
        with use_locale(language):
            worded = error_text(code, params)
        assert worded != ERRORS[code].format(**params) and "{" not in worded, (code, worded)


def test_a_month_given_as_a_date_is_refused_as_typed(registry: Path) -> None:
    run = spsr(registry, "approve", "--month", "2027-01-01", "--by", "bob")
    assert (run.returncode, run.stderr) == (2, "spsr payroll: refused: '2027-01-01' is not a month: write it as "
                                               "YYYY-MM, for example 2026-12 (payroll.month)\n")
    run = spsr(registry, "open", "--month", "2027-+5", "--by", "alice")
    assert run.returncode == 2 and "'2027-+5' is not a month" in run.stderr
    assert spsr(registry, "approve", "--month", "2027-05", "--by", "bob").stderr.endswith("(payroll.not_found)\n")


def test_maker_checker_holds_for_any_spelling_of_a_name(registry: Path) -> None:
    assert spsr(registry, "open", "--month", "2027-01", "--by", "alice").returncode == 0
    for same in ("Alice", "alice ", " ALICE", "alice\u200b", "al\u00adice", "ａｌｉｃｅ"):
        run = spsr(registry, "approve", "--month", "2027-01", "--by", same)
        assert run.returncode == 2
        assert run.stderr == ("spsr payroll: refused: alice opened the payroll of 2027-01, so someone else must "
                              "approve it (maker-checker) (payroll.same_person)\n")
    for nobody in ("", " ", "\u200b\u2060"):
        run = spsr(registry, "approve", "--month", "2027-01", "--by", nobody)
        assert run.returncode == 2 and "--by is empty" in run.stderr and "(payroll.actor_required)" in run.stderr
    assert spsr(registry, "approve", "--month", "2027-01", "--by", "bob").returncode == 0


def test_the_months_that_have_no_payroll_are_refused(registry: Path) -> None:
    run = spsr(registry, "open", "--month", "2026-13", "--by", "alice")
    assert (run.returncode, run.stderr) == (2, "spsr payroll: refused: '2026-13' is not a month: write it as "
                                               "YYYY-MM, for example 2026-12 (payroll.month)\n")
    run = spsr(registry, "open", "--month", "2025-01", "--by", "alice")
    assert run.returncode == 2
    assert "no enrolment is paid in 2025-01, so there is no payroll to open for it (payroll.empty)" in run.stderr
    run = spsr(registry, "open", "--month", "2030-01", "--by", "alice")
    assert (run.returncode, run.stderr) == (2, "spsr payroll: refused: the payroll of 2030-01 can be opened from "
                                               "2029-12-01 on: families are still being enrolled for it, and a "
                                               "payroll frozen now would leave them out (payroll.too_early)\n")
    run = spsr(registry, "open", "--month", "2027-01", "--regenerate", "--by", "alice")
    assert (run.returncode, run.stderr) == (2, "spsr payroll: refused: the payroll of 2027-01 was never opened, so "
                                               "there is nothing to regenerate; open it without --regenerate "
                                               "(payroll.nothing_to_regenerate)\n")
    assert spsr(registry, "approve", "--month", "2027-01", "--by", "bob").stderr.endswith("(payroll.not_found)\n")
    run = spsr(registry, "open", "--month", "2026-12", "--regenerate", "--by", "alice")
    assert (run.returncode, run.stderr) == (2, "spsr payroll: refused: the payroll of 2026-12 was already approved "
                                               "(by seed.checker); it can no longer be opened, regenerated or "
                                               "approved (payroll.already_approved)\n")


def test_a_refused_export_leaves_the_bank_file_as_it_was(registry: Path) -> None:
    bank = registry / "bank.csv"
    bank.write_text("THE FILE SENT YESTERDAY\n")
    assert spsr(registry, "open", "--month", "2027-01", "--by", "alice").returncode == 0
    run = spsr(registry, "export", "--month", "2027-01", "--by", "bob", "bank.csv")
    assert run.returncode == 2 and "has not been approved" in run.stderr and "(payroll.not_approved)" in run.stderr
    run = spsr(registry, "export", "--month", "2031-05", "--by", "bob", "new.csv")
    assert run.returncode == 2 and "there is no payroll for 2031-05" in run.stderr
    assert bank.read_text() == "THE FILE SENT YESTERDAY\n"
    assert sorted(p.name for p in registry.iterdir() if p.suffix == ".csv") == ["bank.csv"]
    run = spsr(registry, "export", "--month", "2026-12", "--by", "bob", "missing/bank.csv")
    assert (run.returncode, run.stderr) == (2, "spsr payroll: missing: no such folder\n")
    run = spsr(registry, "export", "--month", "2026-12", "--by", "bob", str(registry))
    assert run.returncode == 2 and "is a folder" in run.stderr


def test_an_export_writes_through_a_link_and_never_over_what_is_not_a_writable_file(registry: Path) -> None:
    (registry / "share").mkdir()
    (registry / "share" / "bank.csv").write_text("YESTERDAY\n")
    (registry / "link.csv").symlink_to(Path("share") / "bank.csv")
    run = spsr(registry, "export", "--month", "2026-12", "--by", "bob", "link.csv")
    assert run.returncode == 0 and (registry / "link.csv").is_symlink(), run.stderr
    assert (registry / "share" / "bank.csv").read_text().startswith("line_id,pinfl,account,amount,")
    os.mkfifo(registry / "pipe.csv")
    (registry / "frozen.csv").write_text("KEEP\n")
    (registry / "frozen.csv").chmod(0o444)
    for name, says in (("pipe.csv", "pipe.csv: is a named pipe (FIFO), not a file; give the name of a file to write"),
                       ("frozen.csv", "frozen.csv: is read-only (mode 0444); make it writable or give another name")):
        run = spsr(registry, "export", "--month", "2026-12", "--by", "bob", name)
        assert (run.returncode, run.stderr) == (2, f"spsr payroll: {says}\n")
    assert (registry / "frozen.csv").read_text() == "KEEP\n" and stat.S_ISFIFO((registry / "pipe.csv").stat().st_mode)
    assert not [p.name for p in registry.iterdir() if p.name.endswith(".part")]


def test_bank_files_that_cannot_be_read_are_said_plainly(registry: Path) -> None:
    (registry / "results.xlsx").write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5U\x9a\n" * 8)
    (registry / "utf16.csv").write_bytes(HEADER.encode("utf-16"))
    (registry / "empty.csv").write_text("")
    (registry / "header.csv").write_text(HEADER)
    (registry / "headless.csv").write_text("202612000000001,paid,360000,,XB-1\n")
    (registry / "folder").mkdir()
    for name, says in (("nothing.csv", "nothing.csv: no such file"),
                       ("folder", "folder: is a folder, not a file"),
                       ("results.xlsx", "line 1 of the bank file is not UTF-8 text"),
                       ("utf16.csv", "line 1 of the bank file is not UTF-8 text"),
                       ("empty.csv", "the bank file has no result lines"),
                       ("header.csv", "the bank file has no result lines"),
                       ("headless.csv", "it lacks line_id, status, amount, reason, bank_reference (it reads "
                                        "'202612000000001,paid,360000,,XB-1')")):
        run = spsr(registry, "reconcile", "--by", "bob", name)
        assert run.returncode == 2 and says in run.stderr, (name, run.stderr)


def test_a_bank_file_with_a_byte_order_mark_reconciles_and_bad_lines_say_why(registry: Path) -> None:
    assert spsr(registry, "export", "--month", "2026-12", "--by", "bob", "bank.csv").returncode == 0
    first, second = (line.split(",") for line in (registry / "bank.csv").read_text().splitlines()[1:3])
    (registry / "results.csv").write_bytes(("\ufeff" + HEADER + f"{first[0]},paid,{first[3]},,XB-1\n"
                                            f"{second[0]},paid,36O000,,XB-2\n").encode())
    run = spsr(registry, "reconcile", "--by", "bob", "results.csv")
    assert run.returncode == 1
    assert run.stdout.startswith("paid 1, failed 0, unchanged 0, rejected 1,")
    assert run.stderr == "line 3: amount '36O000' is not a whole number (payroll.malformed_line)\n"
    (registry / "long.csv").write_text(HEADER + f"{second[0]},failed,{second[3]},{'x' * 50},\n")
    run = spsr(registry, "reconcile", "--by", "bob", "long.csv")
    assert run.stderr == ("line 2: reason is 50 characters long; the registry keeps at most 40 "
                          "(payroll.malformed_line)\n")
