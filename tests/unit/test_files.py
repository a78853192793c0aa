"""Command files: plain answers for paths that cannot be used; outputs appear whole or not at all."""

from __future__ import annotations

import os
import socket
import stat
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


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_an_output_is_written_through_a_symbolic_link_to_its_target(tmp_path: Path) -> None:
    (tmp_path / "share").mkdir()
    target = tmp_path / "share" / "bank.csv"
    target.write_text("YESTERDAY\n")
    target.chmod(0o640)
    (tmp_path / "link.csv").symlink_to(Path("share") / "bank.csv")  # relative, as ln -s makes it
    with output_file(tmp_path / "link.csv") as out:
        out.write("TODAY\n")
    assert (tmp_path / "link.csv").is_symlink() and target.read_text() == "TODAY\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _left(tmp_path) == ["link.csv", "share"] and _left(tmp_path / "share") == ["bank.csv"]
    # A link to a file not there yet makes the file, the link stays.
    (tmp_path / "new.csv").symlink_to(tmp_path / "share" / "new.csv")
    with output_file(tmp_path / "new.csv") as out:
        out.write("FIRST\n")
    assert (tmp_path / "new.csv").is_symlink() and (tmp_path / "share" / "new.csv").read_text() == "FIRST\n"
    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    with pytest.raises(CommandError, match="loop"), output_file(tmp_path / "loop.csv"):
        pass


def test_a_new_output_is_for_its_owner_alone_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    with output_file(tmp_path / "new.csv") as out:
        out.write("x\n")
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o600
    shared = tmp_path / "shared.csv"
    shared.write_text("old\n")
    shared.chmod(0o664)
    with output_file(shared) as out:
        out.write("new\n")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664 and shared.read_text() == "new\n"


def test_what_is_not_a_writable_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(CommandError, match=r"pipe.csv: is a named pipe \(FIFO\), not a file"), output_file(fifo):
        pass
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "sock.csv"))
        with pytest.raises(CommandError, match="is a socket, not a file"), output_file(tmp_path / "sock.csv"):
            pass
    (tmp_path / "to-pipe.csv").symlink_to(fifo)
    with pytest.raises(CommandError, match="to-pipe.csv: is a named pipe"), output_file(tmp_path / "to-pipe.csv"):
        pass
    frozen = tmp_path / "frozen.csv"
    frozen.write_text("KEEP\n")
    frozen.chmod(0o444)
    with pytest.raises(CommandError, match=r"frozen.csv: is read-only \(mode 0444\)"), output_file(frozen):
        pass
    assert frozen.read_text() == "KEEP\n"
    assert _left(tmp_path) == ["frozen.csv", "pipe.csv", "sock.csv", "to-pipe.csv"]


def test_a_device_is_refused(tmp_path: Path) -> None:
    device = tmp_path / "null"
    try:  # a node of /dev/null's numbers in a folder of the test's own: never the real one
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        pytest.skip("making a device node needs CAP_MKNOD")
    with pytest.raises(CommandError, match="null: is a device, not a file"), output_file(device):
        pass
    assert stat.S_ISCHR(device.stat().st_mode) and _left(tmp_path) == ["null"]


def test_a_mistyped_date_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    env = {"SPSR_TODAY": "2026-13-01", "SPSR_DATABASE_URL": str(tmp_path / "x.db"), "PATH": ""}
    run = subprocess.run([sys.executable, "-m", "spsr.cli", "assess"], env=env, capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert run.returncode == 2 and "SPSR_TODAY='2026-13-01' is not a date" in run.stderr
    assert "Traceback" not in run.stderr
