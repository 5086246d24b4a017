"""R-CNN box heads of ssod; importing registers them in ``ssod.registry.MODELS``."""
from .dropout_shared2fc_bbox_head import DropoutShared2FCBBoxHead

__all__ = ['DropoutShared2FCBBoxHead']
