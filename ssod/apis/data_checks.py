"""Pre-flight checks of a config's data, run by ``tools/train.py`` and ``tools/test.py`` before anything
is built, so that a wrong config fails in a second with a message that says what to do, instead of
minutes later (or never) inside a data worker.

1. **One label space.** Every dataset a run reads (the sources of a semi-supervised ``ConcatDataset``,
   and val/test) must have the same ``classes``. A dataset without ``metainfo`` gets its class's default
   (mmdet's ``CocoDataset``: the 80 COCO classes), which is the known pitfall: a labeled set with
   ``metainfo=dict(classes=...)`` next to an unlabeled set without it trains label ``i`` of one space
   against pseudo-label ``i`` of another, silently.
2. **Data on disk.** Every local ``ann_file`` (joined with ``data_root``) must be a file and every image
   folder (``data_prefix.img``) a directory; the evaluators' ``ann_file`` too. A missing COCO split file
   (``instances_train2017.{fold}@{percent}[-unlabeled].json``) names the command that writes it.
   Remote paths (``s3://...``) and datasets read through ``backend_args`` are not checked.

Both raise :class:`DataCheckError` (a ``ConfigError``) naming the config key, the path or the classes.
"""
import os.path as osp
import re
from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ssod.registry import DATASETS
from .config_checks import ConfigError

PHASES = ('train', 'val', 'test')
#: The command that writes the COCO split files (tools/data/split_coco.py, SoftTeacher's file names).
#: The split files go to <folder of the input>/semi_supervised/ by default.
SPLIT_COMMAND = ('python tools/data/split_coco.py {root}annotations/instances_train2017.json '
                 '--percent {percent} --fold {fold}')
SPLIT_FILE = re.compile(r'instances_train2017\.(?P<fold>\d+)@(?P<percent>[\d.]+)(-unlabeled)?\.json$')
# Wrappers whose inner dataset(s) are in these keys.
_INNER_KEYS = ('datasets', 'dataset')


class DataCheckError(ConfigError):
    """The config's data cannot be used: mismatched classes or missing files."""


def leaf_datasets(dataset_cfg, key: str) -> Iterator[Tuple[str, dict]]:
    """(config key, cfg) of every dataset that reads files, looking inside Concat/Repeat-style wrappers."""
    if dataset_cfg is None:
        return
    inner_found = False
    for inner_key in _INNER_KEYS:
        inner = dataset_cfg.get(inner_key)
        if isinstance(inner, (list, tuple)):
            inner_found = True
            for index, item in enumerate(inner):
                yield from leaf_datasets(item, f'{key}.{inner_key}.{index}')
        elif isinstance(inner, dict):
            inner_found = True
            yield from leaf_datasets(inner, f'{key}.{inner_key}')
    if not inner_found:
        yield key, dataset_cfg


def phase_datasets(cfg: Config, phases: Sequence[str]) -> List[Tuple[str, dict]]:
    found = []
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        if loader is not None and loader.get('dataset') is not None:
            found += list(leaf_datasets(loader.dataset, f'{phase}_dataloader.dataset'))
    return found


def dataset_classes(dataset_cfg: dict) -> Tuple[str, ...]:
    """The classes a dataset config will have: its ``metainfo.classes`` or its type's default."""
    metainfo = dataset_cfg.get('metainfo') or {}
    if metainfo.get('classes') is not None:
        return tuple(metainfo['classes'])
    dataset_type = dataset_cfg.get('type')
    dataset_cls = DATASETS.get(dataset_type) if isinstance(dataset_type, str) else dataset_type
    default = getattr(dataset_cls, 'METAINFO', {}) if dataset_cls is not None else {}
    return tuple(default.get('classes', ()))


def _describe(classes: Tuple[str, ...]) -> str:
    shown = ', '.join(repr(c) for c in classes[:6])
    more = f', ... ({len(classes)} in all)' if len(classes) > 6 else ''
    return f'({shown}{more})'


def check_same_classes(cfg: Config, phases: Sequence[str] = PHASES) -> None:
    """Raise :class:`DataCheckError` if two datasets of ``phases`` have different classes."""
    datasets = phase_datasets(cfg, phases)
    if not datasets:
        return
    first_key, first_cfg = datasets[0]
    first_classes = dataset_classes(first_cfg)
    for key, dataset_cfg in datasets[1:]:
        classes = dataset_classes(dataset_cfg)
        if classes != first_classes:
            raise DataCheckError(
                f'the datasets disagree on their classes:\n'
                f'  {first_key} (ann_file {first_cfg.get("ann_file")!r}): {_describe(first_classes)}\n'
                f'  {key} (ann_file {dataset_cfg.get("ann_file")!r}): {_describe(classes)}\n'
                f'Give every dataset the same metainfo=dict(classes=...) (a dataset without metainfo '
                f'gets its type\'s default classes, e.g. the 80 COCO classes).')


def _local(path: str, dataset_cfg: Optional[dict] = None) -> bool:
    if '://' in path:
        return False
    return not (dataset_cfg and dataset_cfg.get('backend_args'))


def _join(root: Optional[str], path: str) -> str:
    return path if not root or osp.isabs(path) else osp.join(root, path)


def split_hint(path: str) -> str:
    """The split command for a missing COCO split file, else ''."""
    match = SPLIT_FILE.search(path)
    if not match:
        return ''
    annotations_dir = osp.dirname(osp.dirname(path))  # .../annotations/semi_supervised/x.json
    root = osp.dirname(annotations_dir)
    root = (root + '/') if root else ''
    return ('\n    it is a COCO split file; write it with:\n      ' + SPLIT_COMMAND.format(
        root=root, percent=match['percent'], fold=match['fold']))


def missing_data_paths(cfg: Config, phases: Sequence[str] = PHASES) -> List[str]:
    """One line per missing annotation file or image folder of ``phases`` (and their evaluators)."""
    problems = []
    for key, dataset_cfg in phase_datasets(cfg, phases):
        root = dataset_cfg.get('data_root')
        ann_file = dataset_cfg.get('ann_file')
        if ann_file and _local(ann_file, dataset_cfg):
            path = _join(root, ann_file)
            if not osp.isfile(path):
                problems.append(f'{key}.ann_file: {path} does not exist{split_hint(path)}')
        img_dir = (dataset_cfg.get('data_prefix') or {}).get('img')
        if img_dir is not None and _local(img_dir, dataset_cfg):
            path = _join(root, img_dir)
            if not osp.isdir(path):
                problems.append(f'{key}.data_prefix.img: image folder {path} does not exist')
        hidden_gt_file = dataset_cfg.get('hidden_gt_file')
        if hidden_gt_file and _local(hidden_gt_file, dataset_cfg):
            path = _join(root, hidden_gt_file)
            if not osp.isfile(path):
                problems.append(f'{key}.hidden_gt_file: {path} does not exist (it only feeds the '
                                'pseudo-label precision/recall logs: set hidden_gt_file=None in '
                                'this dataset to train without them)')
    for phase in phases:
        evaluators = cfg.get(f'{phase}_evaluator')
        if evaluators is None or phase == 'train':
            continue
        for index, evaluator in enumerate(evaluators if isinstance(evaluators, list) else [evaluators]):
            ann_file = evaluator.get('ann_file')
            if ann_file and _local(ann_file) and not osp.isfile(ann_file):
                suffix = f'.{index}' if isinstance(evaluators, list) else ''
                problems.append(f'{phase}_evaluator{suffix}.ann_file: {ann_file} does not exist')
    return problems


def check_data_paths(cfg: Config, phases: Sequence[str] = PHASES) -> None:
    """Raise :class:`DataCheckError` listing every missing data path of ``phases``."""
    problems = missing_data_paths(cfg, phases)
    if problems:
        raise DataCheckError('missing data:\n  ' + '\n  '.join(problems) +
                             '\n(set data_root / ann_file in the config or with --cfg-options)')


def preflight_check(cfg: Config, phases: Sequence[str] = PHASES) -> None:
    """Both checks, for the dataloaders of ``phases`` that the config has (classes first)."""
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise ValueError(f'unknown phase(s) {unknown}; choose from {PHASES}')
    check_same_classes(cfg, phases)
    check_data_paths(cfg, phases)
    from .annotation_preflight import check_annotation_files, check_sampler_batch_size
    check_annotation_files(cfg, phases)  # file and field named in every error
    if 'train' in phases:
        check_sampler_batch_size(cfg)
