"""Data: geometry, annotation kinds and transforms shared by every task, the tasks'
dataset base class and the synthetic-generator machinery."""
from . import transforms  # noqa: F401  (register)
from .annotation_kinds import AnnotationKind, BoxKind, StaticKind, WarpContext, warp_instances
from .base_dataset import DetBaseDataset, default_palette
from .generated import MARKER, build_atomically, is_complete
from .geometry import center_scale_affine, hflip_matrix, warp_image
from .multi_source import MultiSourceDataset, label_lut  # noqa: F401  (register)

__all__ = ['AnnotationKind', 'BoxKind', 'DetBaseDataset', 'MARKER', 'StaticKind', 'WarpContext',
           'build_atomically', 'center_scale_affine', 'default_palette', 'hflip_matrix', 'is_complete',
           'warp_image', 'warp_instances']
