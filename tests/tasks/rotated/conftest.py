"""Shared fixtures for the rotated-box (DOTA) tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]  # tests/tasks/rotated/conftest.py -> repo root

# With an editable install, `tasks` is found by a meta-path finder that runs after the
# plain path search; once pytest puts `tests/` on sys.path (because of tests/conftest.py),
# the folder `tests/tasks` would be imported as a namespace package `tasks` instead.
# Having the repo root on sys.path makes the real package win.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if "tasks" in sys.modules and getattr(sys.modules["tasks"], "__file__", None) is None:
    for _name in [n for n in sys.modules if n == "tasks" or n.startswith("tasks.")]:
        del sys.modules[_name]

# The shared fixtures live beside the repository: <repo>/../shared/fixtures.
FIXTURES = REPO / ".." / "shared" / "fixtures"
DOTA = FIXTURES / "dota"


@pytest.fixture(scope="session")
def dota_dir() -> Path:
    """``shared/fixtures/dota`` (images/ + labelTxt/); skips the test when absent."""
    if not (DOTA / "labelTxt" / "P0706.txt").is_file():
        pytest.skip(f"DOTA fixtures not found at {DOTA.resolve()}")
    return DOTA
