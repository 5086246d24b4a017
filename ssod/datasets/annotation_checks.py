"""Checks of COCO annotation files before training, with errors that name the file and the field.

mmdet's ``CocoDataset`` reads whatever it is given: an empty or invalid file fails with a bare
``JSONDecodeError``, a file without ``images`` with "need at least one array to concatenate", duplicate
image ids silently drop images (36 of 48 in one case), boxes it cannot use (width or height below
1 px, outside the image, zero area, unknown image) are dropped without a word even when that leaves
nothing to learn from, and an unlabeled file whose categories differ from the labeled one is accepted.

:func:`check_coco_file` checks one file for its ``role``:
  * ``'labeled'`` / ``'val'``: needs ``images``, ``annotations`` and ``categories``; unusable boxes are
    counted (with the first examples) and reported by :func:`check_coco_file`'s ``warn`` callback; no
    usable box at all is an error;
  * ``'unlabeled'``: needs ``images`` and ``categories`` (``annotations`` may be absent; its boxes are
    not used for training);
and, for every role: valid JSON holding an object, lists where lists belong, unique image ids.
:func:`check_same_categories` compares the categories of an unlabeled file with the labeled one's.
Errors are :class:`AnnotationError`; each message starts with ``<config key>: <path>``.
"""
import json
import os.path as osp
from collections import Counter
from typing import Callable, Dict, List, Optional, Sequence, Tuple

ROLES = ('labeled', 'unlabeled', 'val')
EXAMPLES = 3


class AnnotationError(ValueError):
    """An annotation file that cannot be trained on as it is; the message names the file and field."""


def load_coco_json(path: str, where: str) -> dict:
    """The parsed COCO object of ``path``; :class:`AnnotationError` if it is empty, invalid or no object."""
    prefix = f'{where}: {path}' if where else path
    if osp.getsize(path) == 0:
        raise AnnotationError(f"{prefix} is empty (0 bytes); a COCO annotation file is a JSON object "
                              f"with 'images', 'annotations' and 'categories'")
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as error:
        raise AnnotationError(f'{prefix} is not valid JSON: {error.msg} at line {error.lineno} '
                              f'column {error.colno}') from None
    except UnicodeDecodeError as error:
        raise AnnotationError(f'{prefix} is not UTF-8 text (byte {error.start}); is it a JSON '
                              f'file?') from None
    if not isinstance(data, dict):
        raise AnnotationError(f"{prefix} holds a JSON {type(data).__name__}, not an object with "
                              f"'images', 'annotations' and 'categories'")
    return data


def _box_problem(ann: dict, image: Optional[dict], category_ids: set) -> str:
    """Why mmdet's ``CocoDataset`` would not use this annotation's box ('' if it would)."""
    if image is None:
        return 'image_id not in images'
    if ann.get('category_id') not in category_ids:
        return 'category_id not in categories'
    bbox = ann.get('bbox')
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or \
            not all(isinstance(v, (int, float)) for v in bbox):
        return 'bbox is not [x, y, width, height]'
    x, y, w, h = bbox
    if w < 1 or h < 1:
        return 'width or height below 1 px'
    width, height = image.get('width'), image.get('height')
    if isinstance(width, (int, float)) and isinstance(height, (int, float)):
        inter_w = max(0, min(x + w, width) - max(x, 0))
        inter_h = max(0, min(y + h, height) - max(y, 0))
        if inter_w * inter_h == 0:
            return f'outside the image ({width}x{height})'
    if 'area' in ann and isinstance(ann['area'], (int, float)) and ann['area'] <= 0:
        return 'area <= 0'
    return ''


def check_coco_file(path: str, role: str, where: str = '', classes: Sequence[str] = (),
                    warn: Optional[Callable[[str], None]] = None) -> dict:
    """Check the COCO file ``path`` for ``role`` (see the module docstring); returns the parsed data.

    ``where``: the config key that names the file (``train_dataloader.dataset.datasets.0.ann_file``);
    ``classes``: the dataset's classes (boxes of other categories are not counted as usable);
    ``warn``: called with the message about unusable boxes (default: no report).
    """
    if role not in ROLES:
        raise ValueError(f'role must be one of {ROLES}, got {role!r}')
    prefix = f'{where}: {path}' if where else path
    data = load_coco_json(path, where)
    required = ('images', 'categories') if role == 'unlabeled' else ('images', 'annotations',
                                                                      'categories')
    for field in required:
        if field not in data:
            raise AnnotationError(f"{prefix} has no '{field}' field (a COCO file for {role} images "
                                  f"needs {', '.join(repr(f) for f in required)})")
    for field in ('images', 'annotations', 'categories'):
        if field in data and not isinstance(data[field], list):
            raise AnnotationError(f"{prefix}: '{field}' is a {type(data[field]).__name__}, not a list")
    if not data['images']:
        raise AnnotationError(f"{prefix}: 'images' is empty; there is nothing to train or test on")
    for index, image in enumerate(data['images']):
        if not isinstance(image, dict) or 'id' not in image or 'file_name' not in image:
            raise AnnotationError(f"{prefix}: images[{index}] lacks 'id' or 'file_name': {image!r:.120}")

    counts = Counter(image['id'] for image in data['images'])
    duplicated = [image_id for image_id, n in counts.items() if n > 1]
    if duplicated:
        first = duplicated[0]
        shown = ', '.join(str(i) for i in duplicated[:EXAMPLES + 2])
        lost = sum(counts[i] - 1 for i in duplicated)
        raise AnnotationError(
            f"{prefix}: image id {first} appears {counts[first]} times in 'images' ({len(duplicated)} "
            f"ids are duplicated, first: {shown}); mmdet keeps one image per id and would drop "
            f"{lost} images and their boxes. Give every image its own id.")

    if role == 'unlabeled':
        return data
    images = {image['id']: image for image in data['images']}
    wanted = set(classes)
    category_ids = {c.get('id') for c in data['categories'] if isinstance(c, dict)}
    used_ids = {c.get('id') for c in data['categories']
                if isinstance(c, dict) and (not wanted or c.get('name') in wanted)}
    problems: Dict[str, List[str]] = {}
    usable = boxes = 0
    for ann in data['annotations']:
        if not isinstance(ann, dict) or ann.get('iscrowd', 0):
            continue
        boxes += 1
        problem = _box_problem(ann, images.get(ann.get('image_id')), category_ids)
        if problem:
            problems.setdefault(problem, []).append(
                f"annotation {ann.get('id')} of image {ann.get('image_id')}: bbox {ann.get('bbox')}")
        elif ann.get('category_id') in used_ids:
            usable += 1
    if problems and warn is not None:
        bad = sum(len(v) for v in problems.values())
        details = '; '.join(f'{len(examples)} with {problem} (first: {", ".join(examples[:EXAMPLES])})'
                            for problem, examples in problems.items())
        warn(f'{prefix}: {bad} of {boxes} boxes cannot be used and are ignored: {details}')
    if role == 'labeled' and usable == 0:
        why = ('it has no boxes' if boxes == 0 else
               f'none of its {boxes} boxes is usable' + (
                   '' if problems else f' (none is of the classes {tuple(classes)})'))
        raise AnnotationError(f"{prefix}: {why}, so the supervised loss would train on nothing. Fix the "
                              f"'annotations' (bbox = [x, y, width, height] in pixels, inside the "
                              f"image, width and height >= 1).")
    return data


def _category_set(data: dict) -> List[Tuple[object, object]]:
    return sorted(((c.get('id'), c.get('name')) for c in data.get('categories', [])
                   if isinstance(c, dict)), key=repr)


def check_same_categories(unlabeled: dict, unlabeled_path: str, labeled: dict, labeled_path: str,
                          unlabeled_key: str = '', labeled_key: str = '') -> None:
    """:class:`AnnotationError` naming both files if their ``categories`` differ (id and name)."""
    u_set, l_set = _category_set(unlabeled), _category_set(labeled)
    if u_set == l_set:
        return
    only_u = [c for c in u_set if c not in l_set]
    only_l = [c for c in l_set if c not in u_set]

    def name(key, path):
        return f'{path} ({key})' if key else path

    raise AnnotationError(
        f"the categories of the unlabeled file {name(unlabeled_key, unlabeled_path)} differ from "
        f"those of the labeled file {name(labeled_key, labeled_path)}: (id, name) only in the "
        f"unlabeled file: {only_u[:EXAMPLES * 2]}, only in the labeled file: {only_l[:EXAMPLES * 2]}. "
        f"Write both files with the same 'categories' (pseudo-label i must mean class i of the "
        f"labeled file).")
