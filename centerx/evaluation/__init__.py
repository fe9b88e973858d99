"""Metrics shared by tasks."""
from .dump import DumpDetResults
from .per_source import PerSourceMetric, remap_instances  # noqa: F401  (register)

__all__ = ['DumpDetResults']
