"""Data: geometry, annotation kinds and transforms shared by every task."""
from . import transforms  # noqa: F401  (register)
from .annotation_kinds import AnnotationKind, BoxKind, StaticKind, WarpContext, warp_instances
from .geometry import center_scale_affine, hflip_matrix, warp_image

__all__ = ['AnnotationKind', 'BoxKind', 'StaticKind', 'WarpContext', 'center_scale_affine',
           'hflip_matrix', 'warp_image', 'warp_instances']
