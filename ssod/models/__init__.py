"""Semi-supervised detectors and their helpers; importing registers them in ``ssod.registry.MODELS``."""
from . import backbones, data_preprocessors, detectors, pseudo_labels  # noqa: F401
from .backbones import EfficientNetLite
from .data_preprocessors import MultiBranchDataPreprocessor
from .detectors import SemiBaseDetector, SoftTeacher

__all__ = ['EfficientNetLite', 'MultiBranchDataPreprocessor', 'SemiBaseDetector', 'SoftTeacher', 'pseudo_labels']
