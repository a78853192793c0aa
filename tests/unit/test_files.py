"""Command files: plain answers for paths that cannot be used; outputs appear whole or not at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spsr.files import CommandError, binary_input, output_file


def test_a_missing_file_or_a_folder_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"), binary_input(tmp_path / "nothing.csv"):
        pass
    with pytest.raises(CommandError, match="is a folder"), binary_input(tmp_path):
        pass
    with pytest.raises(CommandError, match="no such file"), binary_input(tmp_path / "nothing.jsonl"):
        pass


def test_an_output_replaces_the_file_only_when_it_is_complete(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text("PRECIOUS\n")
    with pytest.raises(RuntimeError), output_file(path) as out:
        out.write("half")
        raise RuntimeError("refused")
    assert path.read_text() == "PRECIOUS\n" and [p.name for p in tmp_path.iterdir()] == ["bank.csv"]
    with output_file(path) as out:
        out.write("line_id\n")
    assert path.read_text() == "line_id\n"
    with pytest.raises(CommandError, match="no such folder"), output_file(tmp_path / "missing" / "x.csv"):
        pass
    with pytest.raises(CommandError, match="is a folder"), output_file(tmp_path):
        pass


def test_a_mistyped_date_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    env = {"SPSR_TODAY": "2026-13-01", "SPSR_DATABASE_URL": str(tmp_path / "x.db"), "PATH": ""}
    run = subprocess.run([sys.executable, "-m", "spsr.cli", "assess"], env=env, capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert run.returncode == 2 and "SPSR_TODAY='2026-13-01' is not a date" in run.stderr
    assert "Traceback" not in run.stderr
