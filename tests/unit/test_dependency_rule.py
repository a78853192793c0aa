"""The core's rules import no database, web or bot library (STYLE.md, convention 1)."""

import json
import subprocess
import sys
from pathlib import Path

PURE_MODULES = [
    "core.identity", "core.rates", "core.eligibility", "core.amounts", "core.applications",
    "core.grievances", "core.payments", "core.errors", "core.clock", "core.pacing",
]
FORBIDDEN = ("sqlalchemy", "aiohttp", "telegram")


def test_pure_rules_import_no_io_library() -> None:
    program = (
        "import importlib, json, sys\n"
        f"for name in {PURE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    loaded = json.loads(out)
    offending = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert offending == []
