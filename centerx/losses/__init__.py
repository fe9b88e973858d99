"""Losses: the heatmap focal loss and masked regression losses."""
from .focal import penalty_reduced_focal_loss
from .l1 import weighted_l1_loss, weighted_smooth_l1_loss

__all__ = ['penalty_reduced_focal_loss', 'weighted_l1_loss', 'weighted_smooth_l1_loss']
