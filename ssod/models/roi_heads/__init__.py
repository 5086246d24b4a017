"""RoI heads of ssod (Noisy Student's student); importing registers them in ``ssod.registry.MODELS``."""
from .bbox_heads import DropoutShared2FCBBoxHead
from .score_weighted_roi_head import ScoreWeightedRoIHead

__all__ = ['DropoutShared2FCBBoxHead', 'ScoreWeightedRoIHead']
