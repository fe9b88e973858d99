"""Options of a center head (issue 14), each a small module the head calls at one hook:
center-size attention (:mod:`.center_attention`) and separate center and class branches
(:mod:`.class_agnostic`)."""
from .center_attention import CenterAttention, build_center_attention
from .class_agnostic import CENTER_MODES, ClassAgnosticCenters, combine_scores

__all__ = ['CENTER_MODES', 'CenterAttention', 'ClassAgnosticCenters', 'build_center_attention', 'combine_scores']
