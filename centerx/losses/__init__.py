"""Losses: the heatmap focal loss (dense or sparse target) and masked regression losses."""
from .focal import penalty_reduced_focal_loss
from .l1 import weighted_l1_loss, weighted_smooth_l1_loss
from .sparse_focal import sparse_focal_loss

__all__ = ['penalty_reduced_focal_loss', 'sparse_focal_loss', 'weighted_l1_loss', 'weighted_smooth_l1_loss']
