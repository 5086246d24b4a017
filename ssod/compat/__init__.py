"""Patches of upstream behaviour (mmengine 0.10.7, torch >= 2.6, yapf) that ssod needs, in one place.

Each module names the upstream behaviour it works around and why the patch is safe:

* :mod:`~ssod.compat.checkpoint_safety`: torch >= 2.6 loads checkpoints with ``weights_only=True``, and
  mmengine cannot load its own checkpoints under it (numpy objects in the message hub, and
  ``HistoryBuffer`` pickling functions). The patch allow-lists exactly the data-only types, makes
  ``HistoryBuffer`` pickle its data only, and loads local files through a loader that explains a refusal.
* :mod:`~ssod.compat.config_text_cache`: mmengine's ``Config.pretty_text`` runs yapf on the whole config
  at every read (about six times per Runner, 3 s each on a 2-core CPU). The patch caches the formatted
  text by the exact input.

Helpers of those loaders, not patches themselves: :mod:`~ssod.compat.checkpoint_globals` (the globals
plain mmengine/numpy checkpoints contain, the refusal wording, the conversion that runs no code of a
file) and :mod:`~ssod.compat.checkpoint_files` (atomic checkpoint writes, completeness checks, the
checkpoint to resume from; mmengine's ``CheckpointHook`` deletes the old file before the new one is
complete).

:func:`install` applies both patches; ``ssod/__init__.py`` calls it once, visibly, when ``ssod`` is imported.
Both patches are idempotent.
"""
from . import checkpoint_safety, config_text_cache


def install() -> None:
    """Apply every patch of this package (idempotent)."""
    checkpoint_safety.install()
    config_text_cache.install()


__all__ = ['checkpoint_safety', 'config_text_cache', 'install']
