"""Bad annotation files and a mismatched batch size are refused by tools/train.py before anything is built,
with an error naming the file (or setting) and the field; unusable boxes are reported with examples."""
import json
import os
import os.path as osp

import pytest

from ssod.datasets.annotation_checks import AnnotationError, check_coco_file

from tests.scripts import load_script
from .helpers import REPO_ROOT, SYNTHETIC_CONFIG

LABELED_KEY = 'train_dataloader.dataset.datasets.0.ann_file'
UNLABELED_KEY = 'train_dataloader.dataset.datasets.1.ann_file'


train_tool = load_script('tools/train.py')


def options(root):
    root = root.rstrip('/') + '/'
    return [f'train_dataloader.dataset.datasets.0.data_root={root}',
            f'train_dataloader.dataset.datasets.1.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', f'val_evaluator.ann_file={root}annotations/val.json']


def train_error(root, work_dir, *extra):
    with pytest.raises(SystemExit) as info:
        train_tool.main([SYNTHETIC_CONFIG, '--work-dir', str(work_dir), '--cfg-options', *options(root),
                         *extra])
    assert not os.path.exists(work_dir) or not os.listdir(work_dir)  # nothing was built
    return str(info.value.code)


def edit_json(path, edit):
    with open(path) as f:
        data = json.load(f)
    edit(data)
    with open(path, 'w') as f:
        json.dump(data, f)


def test_empty_annotation_file(data_copy, tmp_path):
    path = osp.join(data_copy, 'annotations', 'labeled.json')
    open(path, 'w').close()
    assert train_error(data_copy, tmp_path / 'w') == (
        f"error: {LABELED_KEY}: {path} is empty (0 bytes); a COCO annotation file is a JSON object "
        f"with 'images', 'annotations' and 'categories'")


def test_invalid_json(data_copy, tmp_path):
    path = osp.join(data_copy, 'annotations', 'unlabeled.json')
    with open(path, 'w') as f:
        f.write('{"images": [\n  {"id": 1,}\n]}')
    assert train_error(data_copy, tmp_path / 'w') == (
        f"error: {UNLABELED_KEY}: {path} is not valid JSON: Expecting property name enclosed in "
        f"double quotes at line 2 column 12")


@pytest.mark.parametrize('field', ['images', 'annotations', 'categories'])
def test_missing_field_of_the_labeled_file(data_copy, tmp_path, field):
    path = osp.join(data_copy, 'annotations', 'labeled.json')
    edit_json(path, lambda data: data.pop(field))
    assert train_error(data_copy, tmp_path / 'w') == (
        f"error: {LABELED_KEY}: {path} has no '{field}' field (a COCO file for labeled images needs "
        f"'images', 'annotations', 'categories')")


def test_duplicate_image_ids_of_the_unlabeled_file(data_copy, tmp_path):
    path = osp.join(data_copy, 'annotations', 'unlabeled.json')

    def duplicate(data):
        for image in data['images']:
            image['id'] = 7 if image['id'] % 2 else 9
    edit_json(path, duplicate)
    with open(path) as f:
        n = len(json.load(f)['images'])
    message = train_error(data_copy, tmp_path / 'w')
    assert message.startswith(f"error: {UNLABELED_KEY}: {path}: image id ")
    assert message.endswith(f"in 'images' (2 ids are duplicated, first: {message.split()[5]}, "
                            f"{16 - int(message.split()[5])}); mmdet keeps one image per id and would "
                            f"drop {n - 2} images and their boxes. Give every image its own id.")


def test_no_usable_labeled_box(data_copy, tmp_path):
    path = osp.join(data_copy, 'annotations', 'labeled.json')

    def negative_width(data):
        for ann in data['annotations']:
            ann['bbox'][2] = -ann['bbox'][2]
    edit_json(path, negative_width)
    with open(path) as f:
        data = json.load(f)
    n = len(data['annotations'])
    first = data['annotations'][0]
    warnings = []
    with pytest.raises(AnnotationError) as info:
        check_coco_file(path, 'labeled', LABELED_KEY, warn=warnings.append)
    assert str(info.value) == (
        f"{LABELED_KEY}: {path}: none of its {n} boxes is usable, so the supervised loss would train on "
        f"nothing. Fix the 'annotations' (bbox = [x, y, width, height] in pixels, inside the image, "
        f"width and height >= 1).")
    assert warnings[0].startswith(
        f"{LABELED_KEY}: {path}: {n} of {n} boxes cannot be used and are ignored: {n} with width or "
        f"height below 1 px (first: annotation {first['id']} of image {first['image_id']}: bbox "
        f"{first['bbox']}")
    assert train_error(data_copy, tmp_path / 'w').startswith(f'error: {LABELED_KEY}: {path}: none of')


def test_some_unusable_boxes_are_reported_not_fatal(data_copy):
    path = osp.join(data_copy, 'annotations', 'labeled.json')

    def outside(data):
        data['annotations'][0]['bbox'] = [500, 500, 10, 10]
    edit_json(path, outside)
    warnings = []
    check_coco_file(path, 'labeled', LABELED_KEY, warn=warnings.append)
    assert len(warnings) == 1
    assert ': 1 of ' in warnings[0] and '1 with outside the image (64x64)' in warnings[0]


def test_unlabeled_categories_differ_from_labeled(data_copy, tmp_path):
    labeled = osp.join(data_copy, 'annotations', 'labeled.json')
    unlabeled = osp.join(data_copy, 'annotations', 'unlabeled.json')
    edit_json(unlabeled, lambda data: data['categories'].__setitem__(0, dict(id=1, name='circle')))
    assert train_error(data_copy, tmp_path / 'w') == (
        f"error: the categories of the unlabeled file {unlabeled} ({UNLABELED_KEY}) differ from those "
        f"of the labeled file {labeled} ({LABELED_KEY}): (id, name) only in the unlabeled file: "
        f"[(1, 'circle')], only in the labeled file: [(1, 'ellipse')]. Write both files with the same "
        f"'categories' (pseudo-label i must mean class i of the labeled file).")


def test_sampler_batch_size_differs_from_the_dataloader(data_copy, tmp_path):
    assert train_error(data_copy, tmp_path / 'w', 'train_dataloader.sampler.batch_size=4') == (
        'error: train_dataloader.sampler.batch_size (4) differs from train_dataloader.batch_size (2): '
        'GroupSemiBalanceSampler draws 4 images per iteration but the DataLoader batches 2, so '
        'batches straddle iterations, the source ratio is not the configured one and a resumed run '
        'does not continue exactly. Set both to the number of images per GPU.')


def test_sampler_batch_size_is_checked_when_the_loop_is_built():
    from ssod.engine.dataloader_checks import check_sampler_batch_size

    class Sampler:
        batch_size = 3

    class Loader:
        sampler = Sampler()
        batch_size = 2
    with pytest.raises(ValueError, match=r'^train_dataloader.sampler.batch_size \(3\) differs from '
                       r'train_dataloader.batch_size \(2\): Sampler draws 3'):
        check_sampler_batch_size(Loader())
