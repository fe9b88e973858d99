"""Center heatmaps: radius rules, kernels and vectorized rendering (dense and sparse)."""
from .kernels import (CornerNetGaussian, CorrectedGaussian, EllipticalGaussian, Kernel,
                      KernelShape, RotatedEllipticalGaussian, build_kernel)
from .radius import cornernet_radius, corrected_radius, elliptical_radius
from .render import kernel_windows, render_gaussians
from .sparse import SparseHeatmap, render_sparse, window_cells

__all__ = ['CornerNetGaussian', 'CorrectedGaussian', 'EllipticalGaussian', 'Kernel', 'KernelShape',
           'RotatedEllipticalGaussian', 'SparseHeatmap', 'build_kernel', 'cornernet_radius',
           'corrected_radius', 'elliptical_radius', 'kernel_windows', 'render_gaussians',
           'render_sparse', 'window_cells']
