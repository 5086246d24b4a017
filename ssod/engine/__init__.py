"""Training-engine components of ssod: hooks and loops. Importing registers them in ssod's HOOKS/LOOPS."""
from . import hooks, loops, val_loop  # noqa: F401
from .hooks import DistSamplerSeedHook, MeanTeacherHook, RNGStateHook, Weighter
from .loops import SemiIterBasedTrainLoop
from .val_loop import SemiTestLoop, SemiValLoop

__all__ = ['hooks', 'loops', 'DistSamplerSeedHook', 'MeanTeacherHook', 'RNGStateHook', 'Weighter',
           'SemiIterBasedTrainLoop', 'SemiTestLoop', 'SemiValLoop']
