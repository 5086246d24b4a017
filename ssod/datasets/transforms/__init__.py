"""Data transforms of ssod, registered in :data:`ssod.registry.TRANSFORMS` on import."""
from .loading import LoadImageFromFile

__all__ = ['LoadImageFromFile']
