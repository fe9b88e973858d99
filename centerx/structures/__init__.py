"""Typed containers that travel with each sample."""
from .image_meta import ImageMeta, as_3x3
from .sample import DetSample

__all__ = ['ImageMeta', 'DetSample', 'as_3x3']
