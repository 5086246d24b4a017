"""Semi-supervised detectors and their helpers; importing registers them in ``ssod.registry.MODELS``."""
from . import backbones, data_preprocessors, detectors, pseudo_labels, roi_heads  # noqa: F401
from .backbones import EfficientNetLite
from .data_preprocessors import MultiBranchDataPreprocessor
from .detectors import SemiBaseDetector, SoftTeacher
from .roi_heads import DropoutShared2FCBBoxHead, ScoreWeightedRoIHead

__all__ = ['DropoutShared2FCBBoxHead', 'EfficientNetLite', 'MultiBranchDataPreprocessor', 'ScoreWeightedRoIHead',
           'SemiBaseDetector', 'SoftTeacher', 'pseudo_labels']
