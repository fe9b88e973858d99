"""Models: the detector, its data preprocessor, backbones, necks and the center head."""
from . import backbones, necks  # noqa: F401  (register)
from .center_head import CenterHead
from .data_preprocessor import DetDataPreprocessor
from .detector import CenterNet, build_task
from .dynamic_weight_average import DynamicWeightAverage
from .gradnorm import GradNormLossBalancing
from .loss_balancing import UncertaintyLossBalancing

__all__ = ['CenterHead', 'CenterNet', 'DetDataPreprocessor', 'DynamicWeightAverage', 'GradNormLossBalancing',
           'UncertaintyLossBalancing', 'build_task']
