"""The images to pseudo-label and the label space of the output, for :mod:`ssod.apis.pseudo_label`.

Two kinds of input:

* a **COCO json**: its ``images`` records are kept exactly (``id``, ``file_name``, ``width``,
  ``height`` and any other field); files are found under ``img_dir`` (default: the json's folder)
  joined with ``file_name``. Its ``categories`` give the output's category ids when they name every
  class of the config (see :func:`output_categories`).
* a **folder**: its ``.jpg`` / ``.jpeg`` / ``.png`` / ``.tif`` / ``.tiff`` files (not sub-folders,
  not hidden files), sorted by file name, get ids 1..N; ``width`` / ``height`` are those of the decoded
  image, filled in when it is read.

Bad input raises :class:`PseudoLabelError` (a :class:`~ssod.apis.config_checks.ConfigError`) naming the
path or field and what to do.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from mmengine.config import Config

from .config_checks import ConfigError
from .data_checks import check_same_classes, dataset_classes, phase_datasets

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.tif', '.tiff')


class PseudoLabelError(ConfigError):
    """An input of the pseudo-label writer that cannot be used; the message names it and says what
    to do."""


@dataclass
class ImageList:
    """The images to label, in output order."""

    records: List[dict]  # COCO image records; a folder's have no width / height until read
    paths: List[str]  # the file of each record
    categories: Optional[List[dict]]  # the input json's categories, None for a folder
    source: str  # the json file or the folder, as given


def _load_json(path: str) -> dict:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise PseudoLabelError(f'--images {path}: cannot read it as JSON ({error})') from None


def _json_images(path: str, img_dir: Optional[str]) -> ImageList:
    coco = _load_json(path)
    if not isinstance(coco, dict) or not isinstance(coco.get('images'), list):
        raise PseudoLabelError(f'--images {path}: a COCO json needs an `images` list (records with id '
                               f'and file_name); this file has none')
    if not coco['images']:
        raise PseudoLabelError(f'--images {path}: its `images` list is empty; nothing to label')
    seen = set()
    for index, record in enumerate(coco['images']):
        if not isinstance(record, dict) or 'id' not in record or 'file_name' not in record:
            raise PseudoLabelError(f'--images {path}: images[{index}] needs `id` and `file_name`')
        if not isinstance(record['id'], int) or isinstance(record['id'], bool):
            raise PseudoLabelError(f'--images {path}: images[{index}].id must be an integer, got '
                                   f'{record["id"]!r}')
        if record['id'] in seen:
            raise PseudoLabelError(f'--images {path}: image id {record["id"]} appears twice in `images`')
        seen.add(record['id'])
    root = osp.dirname(osp.abspath(path)) if img_dir is None else img_dir
    categories = coco.get('categories')
    return ImageList(records=list(coco['images']),
                     paths=[osp.join(root, record['file_name']) for record in coco['images']],
                     categories=categories if isinstance(categories, list) else None, source=path)


def _folder_images(folder: str) -> ImageList:
    names = sorted(name for name in os.listdir(folder)
                   if not name.startswith('.') and name.lower().endswith(IMAGE_EXTENSIONS)
                   and osp.isfile(osp.join(folder, name)))
    if not names:
        raise PseudoLabelError(f'--images {folder}: the folder holds no image '
                               f'({"/".join(ext[1:] for ext in IMAGE_EXTENSIONS)} file)')
    return ImageList(records=[dict(id=index + 1, file_name=name) for index, name in enumerate(names)],
                     paths=[osp.join(folder, name) for name in names], categories=None, source=folder)


def read_image_list(images: str, img_dir: Optional[str] = None) -> ImageList:
    """The images of a COCO json or a folder (module docstring)."""
    if osp.isdir(images):
        if img_dir is not None:
            raise PseudoLabelError(f'--img-dir applies to a COCO json input; --images {images} is a '
                                   f'folder: leave --img-dir out')
        return _folder_images(images)
    if osp.isfile(images) and images.lower().endswith('.json'):
        if img_dir is not None and not osp.isdir(img_dir):
            raise PseudoLabelError(f'--img-dir {img_dir} is not a folder')
        return _json_images(images, img_dir)
    what = 'does not exist' if not osp.exists(images) else 'is neither a .json file nor a folder'
    raise PseudoLabelError(f'--images {images} {what}: give a COCO json (with `images`) or a folder '
                           f'of images')


def config_classes(cfg: Config) -> Tuple[str, ...]:
    """The labeled set's classes: ``train_dataloader``'s dataset ``metainfo.classes`` (every source of
    a semi-supervised ``ConcatDataset`` must agree), else the test dataset's."""
    for phase in ('train', 'test'):
        datasets = phase_datasets(cfg, (phase, ))
        if datasets:
            check_same_classes(cfg, (phase, ))
            classes = dataset_classes(datasets[0][1])
            if classes:
                return tuple(classes)
    raise PseudoLabelError('the config names no classes: give train_dataloader.dataset a '
                           'metainfo=dict(classes=(...)) (the labeled set\'s classes, in label order)')


def output_categories(classes: Sequence[str], source: Optional[List[dict]]) -> List[dict]:
    """COCO ``categories`` for the label indices 0..C-1 of ``classes``: the input json's category
    records when it has one for every class name (its ids kept), else ids 1..C in class order."""
    by_name = {c.get('name'): c for c in source or [] if isinstance(c, dict) and 'id' in c}
    if all(name in by_name for name in classes):
        return [dict(by_name[name]) for name in classes]
    return [dict(id=index + 1, name=name, supercategory=name) for index, name in enumerate(classes)]
