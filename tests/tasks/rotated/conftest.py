"""Shared fixtures for the rotated-box (DOTA) tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


# The shared fixtures: <repo>/../shared/fixtures unless CENTERX_FIXTURES says (tests/conftest.py).
FIXTURES = Path(os.environ["CENTERX_FIXTURES"])
DOTA = FIXTURES / "dota"


@pytest.fixture(scope="session")
def dota_dir() -> Path:
    """``shared/fixtures/dota`` (images/ + labelTxt/); skips the test when absent."""
    if not (DOTA / "labelTxt" / "P0706.txt").is_file():
        pytest.skip(f"DOTA fixtures not found at {DOTA.resolve()}")
    return DOTA
