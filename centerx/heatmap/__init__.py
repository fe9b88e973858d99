"""Center heatmaps: radius rules, kernels and vectorized rendering (dense and sparse)."""
from .kernels import (CornerNetGaussian, CorrectedGaussian, EllipticalGaussian, Kernel,
                      KernelShape, RotatedEllipticalGaussian, build_kernel, gaussian_profile)
from .radius import cornernet_radius, corrected_radius, elliptical_radius
from .render import kernel_windows, render_gaussians
from .sparse import SparseHeatmap, render_sparse, window_cells
from .spread_kernels import BoxFillingGaussian, CenternessKernel, centerness_profile

__all__ = ['BoxFillingGaussian', 'CenternessKernel', 'CornerNetGaussian', 'CorrectedGaussian',
           'EllipticalGaussian', 'Kernel', 'KernelShape', 'RotatedEllipticalGaussian', 'SparseHeatmap',
           'build_kernel', 'centerness_profile', 'cornernet_radius', 'corrected_radius',
           'elliptical_radius', 'gaussian_profile', 'kernel_windows', 'render_gaussians', 'render_sparse',
           'window_cells']
