"""ssod: semi-supervised object detection on MMDetection 3.

Importing the package
* makes checkpoints load under ``torch.load(weights_only=True)`` (:mod:`ssod.checkpoint_safety`);
* formats a config's text with yapf once instead of at every ``Config.pretty_text`` read
  (:mod:`ssod.config_text_cache`);
* imports mmdet's component packages, so that lookups from the ``ssod`` scope that fall through to
  mmdet's registries find every mmdet component;
* registers every ssod component in the ``ssod`` child registries (:mod:`ssod.registry`).
"""
from . import checkpoint_safety, config_text_cache
from .version import __version__

checkpoint_safety.install()
config_text_cache.install()

import mmdet.datasets  # noqa: E402,F401
import mmdet.engine  # noqa: E402,F401
import mmdet.evaluation  # noqa: E402,F401
import mmdet.models  # noqa: E402,F401
import mmdet.visualization  # noqa: E402,F401

from . import datasets, engine, models, registry, schedules  # noqa: E402,F401

__all__ = ['__version__', 'checkpoint_safety', 'config_text_cache', 'datasets', 'engine', 'models', 'registry', 'schedules']
