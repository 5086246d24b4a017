"""ssod: semi-supervised object detection on MMDetection 3.

Importing the package
* applies the patches of upstream behaviour in :mod:`ssod.compat` (see there): checkpoints load under
  ``torch.load(weights_only=True)`` (:mod:`ssod.compat.checkpoint_safety`), and a config's text is
  formatted with yapf once instead of at every ``Config.pretty_text`` read
  (:mod:`ssod.compat.config_text_cache`);
* imports mmdet's component packages, so that lookups from the ``ssod`` scope that fall through to
  mmdet's registries find every mmdet component;
* registers every ssod component in the ``ssod`` child registries (:mod:`ssod.registry`).

The layout is described in ``docs/architecture.md``.
"""
from . import compat
from .version import __version__

# The one place where ssod changes upstream behaviour at import time (each patch is documented in
# ssod/compat/): checkpoint loading under weights_only=True, and the cached config text formatting.
compat.install()

import mmdet.datasets  # noqa: E402,F401
import mmdet.engine  # noqa: E402,F401
import mmdet.evaluation  # noqa: E402,F401
import mmdet.models  # noqa: E402,F401
import mmdet.visualization  # noqa: E402,F401

from . import datasets, engine, evaluation, models, registry, schedules  # noqa: E402,F401

__all__ = ['__version__', 'compat', 'datasets', 'engine', 'evaluation', 'models', 'registry', 'schedules']
