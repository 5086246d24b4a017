"""Unlabeled images that cannot be loaded are replaced, deterministically, by another of the same group.

In a pool of a million unlabeled images a few are damaged (cut short, empty, not images, deleted). The
sampler is a pure function of the iteration, so a crash on such an image would repeat at the same
iteration after every ``--resume``. A dataset with :class:`SkipBadImagesMixin` (``CocoWithHiddenGT``,
the unlabeled source of ssod's semi-supervised configs) instead catches the
:class:`~ssod.datasets.image_check.BadImageError` of ssod's ``LoadImageFromFile`` and loads a
replacement:

* of the same source (this dataset) and the same aspect-ratio group as the sampler's (landscape:
  ``width >= height``), so the labeled fraction and the batch's group are unchanged;
* chosen by a generator seeded with (index, attempt) only, not by history: the uninterrupted run and a
  resumed one load the same replacement, and the pipeline's random draws start where they would have.

The data samples of the replacement carry ``skipped_images = [(path, reason), ...]`` in their metainfo;
:class:`~ssod.engine.hooks.skipped_images.SkippedImagesHook` logs each path once, counts
``train/skipped_images`` and stops the run with a summary past its limit. Other errors (a bug in a
transform, a bad annotation) are not caught. Test mode (validation) and ``skip_bad_images=False`` keep
every failure fatal.
"""
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from .image_check import BadImageError

#: How many replacements are tried for one index before giving up.
MAX_ATTEMPTS = 16
SKIPPED_META_KEY = 'skipped_images'
_REPLACEMENT_SEED = 0x5eed


def iter_data_samples(data: Any) -> Iterator[Any]:
    """Every data sample (object with ``set_metainfo``) inside a packed result or batch."""
    if isinstance(data, dict):
        for value in data.values():
            yield from iter_data_samples(value)
    elif isinstance(data, (list, tuple)):
        for value in data:
            yield from iter_data_samples(value)
    elif data is not None and hasattr(data, 'set_metainfo'):
        yield data


class SkipBadImagesMixin:
    """Replace images that fail to load (see the module docstring). Put it before the dataset class:
    ``class MyDataset(SkipBadImagesMixin, CocoDataset)``; ``skip_bad_images`` turns it off."""

    skip_bad_images: bool = True
    _groups: Optional[Tuple[List[int], List[int]]] = None

    def aspect_group(self, index: int) -> int:
        """0 for a landscape image (``width >= height``, or unknown size), 1 for a portrait one."""
        info = self.get_data_info(index)
        width, height = info.get('width'), info.get('height')
        return int(width is not None and height is not None and width < height)

    def _group_members(self, group: int) -> List[int]:
        if self._groups is None:
            groups: Tuple[List[int], List[int]] = ([], [])
            for index in range(len(self)):
                groups[self.aspect_group(index)].append(index)
            self._groups = groups
        return self._groups[group]

    def replacement_index(self, index: int, attempt: int) -> int:
        """The image loaded instead of ``index`` at ``attempt`` (0, 1, ...): same group, seeded."""
        members = self._group_members(self.aspect_group(index))
        if len(members) <= 1:
            members = list(range(len(self)))
        rng = np.random.default_rng([_REPLACEMENT_SEED, index, attempt])
        choice = members[int(rng.integers(len(members)))]
        if choice == index and len(members) > 1:
            choice = members[(members.index(choice) + 1) % len(members)]
        return choice

    def __getitem__(self, index: int) -> Dict[str, Any]:
        if getattr(self, 'test_mode', False) or not self.skip_bad_images:
            return super().__getitem__(index)
        skipped: List[Tuple[str, str]] = []
        current = index
        for attempt in range(MAX_ATTEMPTS + 1):
            try:
                data = super().__getitem__(current)
            except BadImageError as error:
                skipped.append((error.path, error.reason))
                current = self.replacement_index(index, attempt)
                continue
            if skipped:
                for sample in iter_data_samples(data.get('data_samples') if isinstance(data, dict)
                                                else None):
                    sample.set_metainfo({SKIPPED_META_KEY: list(skipped)})
            return data
        listed = '; '.join(f'{path} {reason}' for path, reason in skipped[:5])
        raise BadImageError(skipped[0][0], f'and its {MAX_ATTEMPTS} replacements failed to load '
                            f'({listed}); is the image folder of {getattr(self, "ann_file", "?")} '
                            f'readable?')
