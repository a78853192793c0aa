"""Running ``spsr`` in the test process, as its entry point does (errors, exit codes, messages)."""

from __future__ import annotations

import contextlib
import io

from spsr.cli import main


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``spsr ARGV`` in this process: the exit code, what it printed, what it said on stderr. Call it
    from a thread in an async test: each command runs its own event loop."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv), freeze=False)
    return code, out.getvalue(), err.getvalue()
