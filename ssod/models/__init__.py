"""Semi-supervised detectors and their helpers; importing registers them in ``ssod.registry.MODELS``."""
from . import data_preprocessors, detectors, pseudo_labels  # noqa: F401
from .data_preprocessors import MultiBranchDataPreprocessor
from .detectors import SemiBaseDetector, SoftTeacher

__all__ = ['MultiBranchDataPreprocessor', 'SemiBaseDetector', 'SoftTeacher', 'pseudo_labels']
