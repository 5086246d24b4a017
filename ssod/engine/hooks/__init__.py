"""Hooks of ssod, registered in :data:`ssod.registry.HOOKS` on import."""
from .mean_teacher import MeanTeacherHook
from .rng_state import RNGStateHook
from .sampler_seed import DistSamplerSeedHook
from .weighter import Weighter

__all__ = ['DistSamplerSeedHook', 'MeanTeacherHook', 'RNGStateHook', 'Weighter']
