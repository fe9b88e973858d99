"""Backbones: each returns a tuple of feature maps and exposes ``out_channels``."""
from .dla import DLA
from .resnet import ResNet
from .tiny import TinyBackbone

__all__ = ['DLA', 'ResNet', 'TinyBackbone']
