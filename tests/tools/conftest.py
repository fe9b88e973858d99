"""Shared fixtures of the tools tests: loading a script of tools/ (not a package) as a module."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest

TOOLS = Path(__file__).resolve().parents[2] / 'tools'


def _load_tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def load_tool() -> Callable[[str], ModuleType]:
    """``load_tool('benchmark_encode')``: ``tools/benchmark_encode.py`` imported as a module."""
    return _load_tool
