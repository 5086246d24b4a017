"""Split a COCO instances file into labeled / unlabeled parts for partial-label benchmarks.

The COCO partial-label protocol (STAC, Soft Teacher) trains on ``percent`` % of the ``train2017`` images
with their boxes and uses the rest as unlabeled images; every setting is repeated on 5 random splits
("folds") and the mean mAP is reported.

Sampling
    For each (percent, fold) exactly ``round(N * percent / 100)`` of the N images are drawn **without
    replacement** (clamped to [1, N - 1]), by :func:`ssod.data.coco_files.choose_labeled`. So 10 % of
    COCO train2017 (N = 118,287) is 11,829 images, i.e. 10.000 %. MMDetection 3's own split tool draws
    with replacement, which loses the duplicates: its "10 %" is 9.54 %.

Seed rule
    The split of a fold uses the seed ``fold + seed_offset`` (``--seed-offset``, default 0) for numpy's
    ``default_rng``; it depends only on the set of image ids (sorted, so not on their order in the file),
    the percent and that seed. The same command therefore writes the same files on every run and
    machine, different folds give different splits, and ``--seed-offset`` gives a fresh family of folds.
    The percents of one fold are drawn independently (1 % is not a subset of 10 %), as in STAC.

Outputs (under ``--out``, default ``<input folder>/semi_supervised``, Soft Teacher's layout), with
``STEM`` the input file name without ``.json`` (``instances_train2017`` for COCO) and the percent written
without trailing zeros (``1``, ``0.5``)::

    STEM.{fold}@{percent}.json                       labeled images with all their annotations
    STEM.{fold}@{percent}-unlabeled.json             the other images, ``annotations: []``
    STEM.{fold}@{percent}-unlabeled-hidden-gt.json   the boxes of the unlabeled images

This follows :func:`ssod.data.coco_files.write_semi_split`: the unlabeled file keeps the full
``categories`` list (so mmdet's ``CocoDataset`` builds it with the same classes) but no boxes, and the
boxes go to a separate ``-hidden-gt`` file that training never reads; it exists only to measure
pseudo-label quality. ``--no-hidden-gt`` skips it: ``CocoWithHiddenGT`` (``ssod/datasets``) accepts any
file that has the boxes of every unlabeled image, so for COCO the input ``instances_train2017.json``
itself can serve, and the 20 default splits save about 8 GB (each hidden-GT file is ~90 % of the input).
Annotation ids are renumbered 1..n within each file (:func:`~ssod.data.coco_files.coco_dict`); the
image entries are copied unchanged, in the input's order.

Usage
    python tools/data/split_coco.py data/coco/annotations/instances_train2017.json \\
        [--out DIR] [--percent 1 2 5 10] [--fold 1 2 3 4 5] [--seed-offset 0] [--no-hidden-gt]

Bad input (percent outside (0, 100), a missing or unreadable file, a file without images, duplicate or
missing image ids, annotations of unknown images, no ``categories``) raises :class:`SplitError`; the tool
prints ``error: ...`` and returns 2.
"""
import collections
import json
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from .coco_files import choose_labeled, percent_text, subset, write_json

DEFAULT_PERCENTS = (1.0, 2.0, 5.0, 10.0)
DEFAULT_FOLDS = (1, 2, 3, 4, 5)
ROLES = ('labeled', 'unlabeled', 'hidden_gt')
ROLE_SUFFIXES = {'labeled': '', 'unlabeled': '-unlabeled', 'hidden_gt': '-unlabeled-hidden-gt'}


class SplitError(ValueError):
    """The input file or the arguments cannot give a valid split."""


@dataclass
class SplitReport:
    """What one (percent, fold) split wrote: file paths and counts by role."""
    percent: float
    fold: int
    seed: int
    paths: Dict[str, str]
    images: Dict[str, int]
    annotations: Dict[str, int]

    @property
    def realised_percent(self) -> float:
        """Labeled images as a percentage of all images."""
        total = self.images['labeled'] + self.images['unlabeled']
        return 100.0 * self.images['labeled'] / total


def split_file_names(stem: str, fold: int, percent: float) -> Dict[str, str]:
    """File names by role, e.g. ``instances_train2017.1@10.json`` for the labeled part."""
    base = f'{stem}.{fold}@{percent_text(percent)}'
    return {role: f'{base}{suffix}.json' for role, suffix in ROLE_SUFFIXES.items()}


def check_percents(percents: Sequence[float]) -> List[float]:
    """The distinct percents in the given order; each must lie in (0, 100)."""
    for percent in percents:
        if not 0 < percent < 100:
            raise SplitError(f'--percent must be in (0, 100) (exclusive), got {percent_text(percent)}')
    return list(dict.fromkeys(float(p) for p in percents))


def check_folds(folds: Sequence[int], seed_offset: int) -> List[int]:
    """The distinct folds in the given order; each seed ``fold + seed_offset`` must be >= 0."""
    for fold in folds:
        if fold + seed_offset < 0:
            raise SplitError(f'fold {fold} with --seed-offset {seed_offset} gives the negative seed '
                             f'{fold + seed_offset}; folds and seeds must be non-negative')
    return list(dict.fromkeys(int(f) for f in folds))


def load_coco(path: str) -> dict:
    """Read and validate a COCO instances file (see the module docstring for what is checked)."""
    if osp.isdir(path):
        raise SplitError(f'{path} is a folder; pass the COCO instances json file itself')
    if not osp.isfile(path):
        raise SplitError(f'annotation file {path} does not exist (expected a COCO instances json '
                         f'such as data/coco/annotations/instances_train2017.json)')
    try:
        with open(path) as f:
            coco = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SplitError(f'cannot read {path} as JSON: {err}') from err
    if not isinstance(coco, dict):
        raise SplitError(f'{path}: expected a JSON object with images/annotations/categories, '
                         f'got a {type(coco).__name__}')
    images = coco.get('images')
    if not isinstance(images, list) or not images:
        raise SplitError(f"{path} has no images (its 'images' list is missing or empty); a COCO "
                         f'instances file lists every image there')
    for key in ('annotations', 'categories'):
        if not isinstance(coco.get(key), list):
            raise SplitError(f"{path} has no '{key}' list; a COCO instances file needs one (it may be "
                             f'empty for annotations)')
    ids = []
    for index, image in enumerate(images):
        if not isinstance(image, dict) or not isinstance(image.get('id'), int):
            raise SplitError(f"{path}: images[{index}] has no integer 'id' ({str(image)[:80]})")
        ids.append(image['id'])
    duplicates = sorted(i for i, n in collections.Counter(ids).items() if n > 1)
    if duplicates:
        raise SplitError(f'{path}: {len(duplicates)} image id(s) occur more than once, e.g. '
                         f'{duplicates[:5]}; image ids must be unique')
    known = set(ids)
    for index, ann in enumerate(coco['annotations']):
        if not isinstance(ann, dict) or ann.get('image_id') not in known:
            image_id = ann.get('image_id') if isinstance(ann, dict) else None
            raise SplitError(f'{path}: annotations[{index}] refers to image_id {image_id!r}, which '
                             f"is not in 'images'")
    if len(ids) < 2:
        raise SplitError(f'{path} has {len(ids)} image; a labeled/unlabeled split needs at least 2')
    return coco


def split_coco(coco: dict, percent: float, seed: int) -> Dict[str, dict]:
    """The labeled, unlabeled (no boxes) and hidden-GT COCO dicts of one split."""
    labeled_ids, unlabeled_ids = choose_labeled([img['id'] for img in coco['images']], percent, seed)
    return dict(labeled=subset(coco, labeled_ids),
                unlabeled=subset(coco, unlabeled_ids, keep_annotations=False),
                hidden_gt=subset(coco, unlabeled_ids))


def write_splits(ann_file: str, out_dir: Optional[str], percents: Sequence[float],
                 folds: Sequence[int], seed_offset: int = 0, hidden_gt: bool = True,
                 log=print) -> List[SplitReport]:
    """Write every (percent, fold) split of ``ann_file`` into ``out_dir``; return what was written."""
    percents = check_percents(percents)
    folds = check_folds(folds, seed_offset)
    coco = load_coco(ann_file)
    if out_dir is None:
        out_dir = osp.join(osp.dirname(osp.abspath(ann_file)), 'semi_supervised')
    stem = osp.basename(ann_file)
    stem = stem[:-len('.json')] if stem.endswith('.json') else osp.splitext(stem)[0]
    log(f'{ann_file}: {len(coco["images"])} images, {len(coco["annotations"])} annotations, '
        f'{len(coco["categories"])} categories')
    reports = []
    for percent in percents:
        for fold in folds:
            seed = fold + seed_offset
            parts = split_coco(coco, percent, seed)
            roles = [role for role in ROLES if hidden_gt or role != 'hidden_gt']
            names = split_file_names(stem, fold, percent)
            paths = {role: osp.join(out_dir, names[role]) for role in roles}
            for role in roles:
                write_json(paths[role], parts[role])
            report = SplitReport(
                percent=percent, fold=fold, seed=seed, paths=paths,
                images={role: len(parts[role]['images']) for role in roles},
                annotations={role: len(parts[role]['annotations']) for role in roles})
            reports.append(report)
            log(format_report(report))
    return reports


def format_report(report: SplitReport) -> str:
    """One line per written file plus the realised labeled percentage."""
    lines = [f'{percent_text(report.percent)} % fold {report.fold} (seed {report.seed}): '
             f'{report.realised_percent:.3f} % of the images labeled']
    for role, path in report.paths.items():
        lines.append(f'  {osp.basename(path):<50} {report.images[role]:8d} images '
                     f'{report.annotations[role]:9d} annotations')
    return '\n'.join(lines)
