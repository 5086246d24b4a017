"""Training-engine components of ssod (hooks; loops later). Importing registers them in ssod's HOOKS."""
from . import hooks  # noqa: F401
from .hooks import MeanTeacherHook, Weighter

__all__ = ['hooks', 'MeanTeacherHook', 'Weighter']
