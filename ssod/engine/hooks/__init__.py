"""Hooks of ssod, registered in :data:`ssod.registry.HOOKS` on import."""
from .ema_teacher import EMATeacherHook
from .rng_state import RNGStateHook
from .sampler_seed import DistSamplerSeedHook
from .weighter import Weighter

__all__ = ['DistSamplerSeedHook', 'EMATeacherHook', 'RNGStateHook', 'Weighter']
