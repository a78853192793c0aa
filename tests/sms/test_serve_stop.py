"""``spsr serve`` stopped by SIGTERM (systemd's stop) stops cleanly: its sender leaves the roll of
live senders, so the other processes take its share at once instead of after the timeout."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _senders(db: Path) -> list[tuple[str, int]]:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT channel, pid FROM outbox_senders").fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return []


def test_sigterm_stops_serve_cleanly_and_its_sender_leaves(tmp_path: Path) -> None:
    db = tmp_path / "spsr.db"
    env = {**os.environ, "SPSR_DATABASE_URL": str(db), "PORT": str(_free_port()),
           "SPSR_SMS_GATEWAY_URL": f"http://127.0.0.1:{_free_port()}"}  # nothing listens: nothing is due anyway
    env.pop("SPSR_TELEGRAM_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "spsr.cli", "serve"], env=env, cwd=Path(__file__).parents[2],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _senders(db):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        assert _senders(db) == [("sms", proc.pid)]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        assert _senders(db) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
