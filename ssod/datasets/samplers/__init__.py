"""Data samplers of ssod (registered in ``ssod.registry.DATA_SAMPLERS`` on import)."""
from .semi_balance import GroupSemiBalanceSampler

__all__ = ['GroupSemiBalanceSampler']
