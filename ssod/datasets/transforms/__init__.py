"""Data transforms of ssod, registered in :data:`ssod.registry.TRANSFORMS` on import."""
from .formatting import PackScoredDetInputs
from .instance_scores import KeepInstanceScores
from .loading import LoadImageFromFile

__all__ = ['KeepInstanceScores', 'LoadImageFromFile', 'PackScoredDetInputs']
