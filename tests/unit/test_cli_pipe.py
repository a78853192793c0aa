"""A reader that goes away (``spsr demo | head``) ends the command quietly, as other Unix tools end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_closed_pipe_ends_the_command_without_a_traceback(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("spsr")
    env = {**os.environ, "SPSR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"}
    proc = subprocess.Popen([command, "demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # gone before the command says anything
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err  # 128 + SIGPIPE, as a shell reports it
    assert "Traceback" not in err and "Exception ignored" not in err
