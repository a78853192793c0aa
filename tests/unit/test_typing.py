"""The packages type-check: mypy, configured in pyproject.toml (strict; core, bots, ussd, registry_api, spsr).

Quick with the cache in .mypy_cache (a second or two); a cold run takes about half a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[2]


def test_packages_type_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # The config's `files` and the cache are relative to the working directory.
    monkeypatch.chdir(ROOT)
    stdout, stderr, status = mypy_api.run(["--config-file", str(ROOT / "pyproject.toml")])
    assert status == 0, stdout + stderr
