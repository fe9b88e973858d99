"""Center heatmaps: radius rules, kernels and vectorized rendering."""
from .kernels import (CornerNetGaussian, CorrectedGaussian, EllipticalGaussian, Kernel,
                      KernelShape, RotatedEllipticalGaussian, build_kernel, gaussian_profile)
from .radius import cornernet_radius, corrected_radius, elliptical_radius
from .render import render_gaussians
from .spread_kernels import BoxFillingGaussian, CenternessKernel, centerness_profile

__all__ = ['BoxFillingGaussian', 'CenternessKernel', 'CornerNetGaussian', 'CorrectedGaussian',
           'EllipticalGaussian', 'Kernel', 'KernelShape', 'RotatedEllipticalGaussian', 'build_kernel',
           'centerness_profile', 'cornernet_radius', 'corrected_radius', 'elliptical_radius',
           'gaussian_profile', 'render_gaussians']
