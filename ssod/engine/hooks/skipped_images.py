"""``SkippedImagesHook``: log, count and limit the unlabeled images replaced because they failed to load.

The replacement happens in the dataset (:mod:`ssod.datasets.bad_image_skip`), possibly in a data-loader
worker; the replaced paths travel in the data samples' metainfo. After every iteration this hook
  * logs each replaced path once (with the reason), as a warning;
  * counts them: ``train/skipped_images`` (the run's total, kept in the checkpoint's message hub, so a
    resumed run goes on counting);
  * stops the run with a summary (:class:`TooManyBadImagesError`) once the total exceeds
    ``max_skipped_images``: that many bad files mean a broken data set, not a few damaged images.

Config (``configs/_base_/default_runtime.py`` sets it for every config)::

    default_hooks = dict(skipped_images=dict(type='SkippedImagesHook', max_skipped_images=1000))
"""
import logging
from typing import Any, Dict, List, Optional, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log

from ssod.registry import HOOKS
from ..errors import TrainingStoppedError

#: The metainfo key under which ``ssod.datasets.bad_image_skip`` records the images it replaced (the
#: same string as its ``SKIPPED_META_KEY``; ``engine`` does not import ``datasets``).
SKIPPED_META_KEY = 'skipped_images'

TOTAL_INFO_KEY = 'skipped_images_total'
SCALAR_KEY = 'train/skipped_images'


class TooManyBadImagesError(TrainingStoppedError):
    """More unlabeled images failed to load than ``max_skipped_images`` allows."""


def skipped_in_batch(data_batch: Any) -> List[Tuple[str, str]]:
    """(path, reason) of every replaced image of a batch, once per batch position."""
    samples = data_batch.get('data_samples') if isinstance(data_batch, dict) else None
    branches = samples.values() if isinstance(samples, dict) else [samples]
    by_position: Dict[int, List[Tuple[str, str]]] = {}
    for branch in branches:
        for position, sample in enumerate(branch or []):
            meta = getattr(sample, 'metainfo', None) or {}
            if meta.get(SKIPPED_META_KEY) and position not in by_position:
                by_position[position] = [tuple(item) for item in meta[SKIPPED_META_KEY]]
    return [item for position in sorted(by_position) for item in by_position[position]]


@HOOKS.register_module()
class SkippedImagesHook(Hook):
    """Log, count and limit replaced unlabeled images (see the module docstring).

    Args:
        max_skipped_images: the run stops when more images than this were replaced. Default 1000.
    """

    priority = 'NORMAL'

    def __init__(self, max_skipped_images: int = 1000) -> None:
        if isinstance(max_skipped_images, bool) or not isinstance(max_skipped_images, int) \
                or max_skipped_images < 0:
            raise ValueError(f'SkippedImagesHook: max_skipped_images must be an integer >= 0, got '
                             f'{max_skipped_images!r}')
        self.max_skipped_images = max_skipped_images
        self.logged: Dict[str, str] = {}

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        skipped = skipped_in_batch(data_batch)
        if not skipped:
            return
        total = int(runner.message_hub.get_info(TOTAL_INFO_KEY, 0)) + len(skipped)
        runner.message_hub.update_info(TOTAL_INFO_KEY, total)
        runner.message_hub.update_scalar(SCALAR_KEY, total)
        for path, reason in skipped:
            if path not in self.logged:
                self.logged[path] = reason
                print_log(f'skipped unlabeled image {path}: it {reason}; a replacement of the same '
                          f'aspect group was loaded (iteration {runner.iter + 1}, {total} skipped so '
                          f'far)', logger='current', level=logging.WARNING)
        if total > self.max_skipped_images:
            listed = '\n  '.join(f'{path}: {reason}' for path, reason in list(self.logged.items())[:20])
            more = (f'\n  ... ({len(self.logged)} different files in all)'
                    if len(self.logged) > 20 else '')
            message = (f'{total} unlabeled images failed to load by iteration {runner.iter + 1}, more '
                       f'than max_skipped_images={self.max_skipped_images} (default_hooks.'
                       f'skipped_images). Files seen:\n  {listed}{more}\nRepair or remove them (python '
                       f'tools/data/check_images.py CONFIG lists every bad image), then resume.')
            runner.logger.error(message)
            raise TooManyBadImagesError(message)
