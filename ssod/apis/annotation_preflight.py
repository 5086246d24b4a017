"""Pre-flight checks of a config's annotation files and of its training batch size (``tools/train.py``
and ``tools/test.py`` run them before building anything).

* Every local COCO ``ann_file`` of the phases' datasets is checked for its role
  (:mod:`ssod.datasets.annotation_checks`): the unlabeled source of a semi-supervised config (a dataset
  that skips bad images, i.e. ``CocoWithHiddenGT``), labeled training data, or validation/test data.
  Warnings about unusable boxes are logged; errors raise :class:`~.data_checks.DataCheckError`.
* The categories of every unlabeled file must equal those of the first labeled file.
* ``train_dataloader.sampler.batch_size`` must equal ``train_dataloader.batch_size``
  (:func:`check_sampler_batch_size`).
"""
import logging
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.logging import print_log

from ssod.datasets.annotation_checks import AnnotationError, check_coco_file, check_same_categories
from ssod.datasets.bad_image_skip import SkipBadImagesMixin
from ssod.engine.dataloader_checks import batch_size_message
from ssod.registry import DATASETS
from .data_checks import PHASES, DataCheckError, _join, _local, dataset_classes, phase_datasets


def _dataset_class(dataset_cfg: dict) -> Optional[type]:
    dataset_type = dataset_cfg.get('type')
    if isinstance(dataset_type, type):
        return dataset_type
    return DATASETS.get(dataset_type) if isinstance(dataset_type, str) else None


def _is_coco(cls: Optional[type]) -> bool:
    from mmdet.datasets import CocoDataset
    return isinstance(cls, type) and issubclass(cls, CocoDataset)


def _role(phase: str, cls: type, dataset_cfg: dict) -> str:
    if phase != 'train':
        return 'val'
    if issubclass(cls, SkipBadImagesMixin) and dataset_cfg.get('skip_bad_images', True):
        return 'unlabeled'
    return 'labeled'


def _warn(message: str) -> None:
    print_log(message, logger='current', level=logging.WARNING)


def check_annotation_files(cfg: Config, phases: Sequence[str] = PHASES) -> None:
    """Check the COCO annotation files of ``phases`` (see the module docstring)."""
    labeled = None
    unlabeled = []
    try:
        for phase in phases:
            for key, dataset_cfg in phase_datasets(cfg, [phase]):
                cls = _dataset_class(dataset_cfg)
                ann_file = dataset_cfg.get('ann_file')
                if not (_is_coco(cls) and ann_file and _local(ann_file, dataset_cfg)):
                    continue
                path = _join(dataset_cfg.get('data_root'), ann_file)
                if not osp.isfile(path):
                    continue  # reported by check_data_paths
                role = _role(phase, cls, dataset_cfg)
                where = f'{key}.ann_file'
                data = check_coco_file(path, role, where, classes=dataset_classes(dataset_cfg),
                                       warn=_warn)
                if role == 'labeled' and labeled is None:
                    labeled = (data, path, where)
                elif role == 'unlabeled':
                    unlabeled.append((data, path, where))
        if labeled is not None:
            for data, path, where in unlabeled:
                check_same_categories(data, path, labeled[0], labeled[1], where, labeled[2])
    except AnnotationError as error:
        raise DataCheckError(str(error)) from None


def check_sampler_batch_size(cfg: Config) -> None:
    """:class:`DataCheckError` if the train sampler's ``batch_size`` differs from the dataloader's."""
    loader = cfg.get('train_dataloader') or {}
    sampler = loader.get('sampler') or {}
    if 'batch_size' in sampler and 'batch_size' in loader and \
            sampler['batch_size'] != loader['batch_size']:
        raise DataCheckError(batch_size_message(sampler['batch_size'], loader['batch_size'],
                                                sampler.get('type', 'the sampler')))

