"""Metrics shared by tasks."""
from .dump import DumpDetResults

__all__ = ['DumpDetResults']
