"""Decode every image of a config's datasets and list the bad ones (``tools/data/check_images.py``).

The images of each dataset are read from its annotation file (the dataset is built without a pipeline),
checked in ``workers`` processes with :func:`ssod.datasets.image_check.image_problem` (cheap checks,
then a full decode), with a progress bar.
"""
import multiprocessing
import sys
from typing import List, Sequence, Tuple

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from ssod.datasets.image_check import image_problem
from ssod.registry import DATASETS
from .data_checks import PHASES, phase_datasets


def dataset_images(cfg: Config, phases: Sequence[str] = PHASES) -> List[Tuple[str, str]]:
    """(config key, image path) of every image of the datasets of ``phases`` (each path once)."""
    init_default_scope(cfg.get('default_scope', 'ssod'))
    found = {}
    for key, dataset_cfg in phase_datasets(cfg, phases):
        dataset_cfg = dict(dataset_cfg, pipeline=[], lazy_init=False)
        dataset_cfg.pop('hidden_gt_file', None)
        dataset = DATASETS.build(dataset_cfg)
        for index in range(len(dataset)):
            path = dataset.get_data_info(index).get('img_path')
            if path is not None:
                found.setdefault(path, key)
    return [(key, path) for path, key in found.items()]


def _check(path: str) -> Tuple[str, str]:
    return path, image_problem(path)


def check_images(images: Sequence[Tuple[str, str]], workers: int = 4,
                 progress: bool = True) -> List[Tuple[str, str, str]]:
    """(config key, path, reason) of every bad image of ``images``, in the order given."""
    keys = dict((path, key) for key, path in images)
    paths = list(keys)
    bar = ProgressBar(len(paths), file=sys.stderr) if progress and paths else None
    results = {}
    if workers > 1 and len(paths) > 1:
        with multiprocessing.get_context('fork').Pool(workers) as pool:
            for path, reason in pool.imap_unordered(_check, paths, chunksize=16):
                results[path] = reason
                if bar:
                    bar.update()
    else:
        for path in paths:
            results[path] = _check(path)[1]
            if bar:
                bar.update()
    if bar:
        sys.stderr.write('\n')
    return [(keys[path], path, results[path]) for path in paths if results[path]]
