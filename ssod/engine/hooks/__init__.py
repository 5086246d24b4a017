"""Hooks of ssod, registered in :data:`ssod.registry.HOOKS` on import."""
from .mean_teacher import MeanTeacherHook
from .weighter import Weighter

__all__ = ['MeanTeacherHook', 'Weighter']
