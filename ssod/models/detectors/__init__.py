from .semi_base import SemiBaseDetector
from .soft_teacher import SoftTeacher

__all__ = ['SemiBaseDetector', 'SoftTeacher']
