"""Decoding: peak extraction and gathering attribute maps at the peaks."""
from .peaks import Peaks, extract_peaks, gather_at_peaks

__all__ = ['Peaks', 'extract_peaks', 'gather_at_peaks']
