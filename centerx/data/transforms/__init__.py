"""Data transforms: loading, geometry (one affine per step, applied to every annotation
kind), photometric jitter and packing."""
from .geometric import CenterAffine, RandomCenterAffine, RandomFlip, apply_affine
from .loading import LoadImage
from .packing import PackDetInputs
from .photometric import ColorJitter

__all__ = ['CenterAffine', 'ColorJitter', 'LoadImage', 'PackDetInputs', 'RandomCenterAffine',
           'RandomFlip', 'apply_affine']
