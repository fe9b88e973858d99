"""Necks: turn a backbone's feature tuple into one stride-4 map; expose ``out_channels``."""
from .deconv import DeconvNeck
from .dla_up import DLAUpNeck
from .skip_up import SkipUpNeck

__all__ = ['DeconvNeck', 'DLAUpNeck', 'SkipUpNeck']
