"""Center heatmaps: radius rules, kernels and vectorized rendering."""
from .kernels import (CornerNetGaussian, CorrectedGaussian, EllipticalGaussian, Kernel,
                      KernelShape, RotatedEllipticalGaussian, build_kernel)
from .radius import cornernet_radius, corrected_radius, elliptical_radius
from .render import render_gaussians

__all__ = ['CornerNetGaussian', 'CorrectedGaussian', 'EllipticalGaussian', 'Kernel', 'KernelShape',
           'RotatedEllipticalGaussian', 'build_kernel', 'cornernet_radius', 'corrected_radius',
           'elliptical_radius', 'render_gaussians']
