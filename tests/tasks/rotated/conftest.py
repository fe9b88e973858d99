"""Shared fixtures for the rotated-box (DOTA) tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]  # tests/tasks/rotated/conftest.py -> repo root

# The shared fixtures live beside the repository: <repo>/../shared/fixtures.
FIXTURES = REPO / ".." / "shared" / "fixtures"
DOTA = FIXTURES / "dota"


@pytest.fixture(scope="session")
def dota_dir() -> Path:
    """``shared/fixtures/dota`` (images/ + labelTxt/); skips the test when absent."""
    if not (DOTA / "labelTxt" / "P0706.txt").is_file():
        pytest.skip(f"DOTA fixtures not found at {DOTA.resolve()}")
    return DOTA
