"""Hooks of ssod, registered in :data:`ssod.registry.HOOKS` on import."""
from .atomic_checkpoint import CheckpointHook
from .ema_teacher import EMATeacherHook
from .rng_state import RNGStateHook
from .sampler_seed import DistSamplerSeedHook
from .skipped_images import SkippedImagesHook
from .weighter import Weighter

__all__ = ['CheckpointHook', 'DistSamplerSeedHook', 'EMATeacherHook', 'RNGStateHook', 'SkippedImagesHook',
           'Weighter']
