"""Metrics shared by tasks, and the step every metric's ``process`` shares."""
from .dump import DumpDetResults
from .per_source import PerSourceMetric, remap_instances  # noqa: F401  (register)
from .predictions import MissingPredictionsError, OptionalField, gather_predictions, prediction_field_of

__all__ = ['DumpDetResults', 'MissingPredictionsError', 'OptionalField', 'gather_predictions',
           'prediction_field_of']
