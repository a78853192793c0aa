"""The flows import no database, web or bot library, and declare what the services name."""

import json
import subprocess
import sys
from pathlib import Path

from core.flows import NODES, OPS
from core.flows.citizen import CATEGORIES, CHANGES

FORBIDDEN = ("sqlalchemy", "aiohttp", "telegram")


def test_flows_import_no_io_library() -> None:
    program = "import core.flows, json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    assert [m for m in json.loads(out) if m.split(".")[0] in FORBIDDEN] == []


def test_flow_codes_match_the_services() -> None:
    from core.grievances import CATEGORIES as GRIEVANCE_CATEGORIES
    from core.services.applications import DECLARED_CHANGES

    assert tuple(code for code, _ in CHANGES) == DECLARED_CHANGES
    assert tuple(code for code, _ in CATEGORIES) == GRIEVANCE_CATEGORIES


def test_every_node_can_take_input() -> None:
    assert all(n.on_input is not None for n in NODES.values())
    assert len(OPS) == len(set(OPS))
