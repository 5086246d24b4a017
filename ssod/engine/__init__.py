"""Training-engine components of ssod: hooks and loops. Importing registers them in ssod's HOOKS/LOOPS."""
from . import hooks, non_finite_guard, train_loop, val_loop  # noqa: F401
from .hooks import DistSamplerSeedHook, EMATeacherHook, RNGStateHook, Weighter
from .train_loop import SemiIterBasedTrainLoop
from .val_loop import SemiTestLoop, SemiValLoop

__all__ = ['hooks', 'non_finite_guard', 'train_loop', 'val_loop', 'DistSamplerSeedHook', 'EMATeacherHook',
           'RNGStateHook', 'Weighter', 'SemiIterBasedTrainLoop', 'SemiTestLoop', 'SemiValLoop']
