"""ssod/apis/data_checks.py, seen through tools/train.py: bad data is refused before training (datasets
with different classes, missing annotation files or image folders (COCO split files name the split
command), bad fold/percent values)."""
import os
import os.path as osp

import pytest
from mmengine.config import Config

import ssod  # noqa: F401
from ssod.apis.data_checks import DataCheckError, check_same_classes, missing_data_paths, split_hint

from tests.configs.coco_fake_tree import make_fake_coco
from tests.scripts import load_script

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

SYNTHETIC_CONFIG = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                            'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')
COCO_10PCT = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                      'soft_teacher_faster_rcnn_r50_caffe_fpn_coco_10pct_180k.py')


train_tool = load_script('tools/train.py')


def synthetic_options(root):
    root = root.rstrip('/') + '/'
    return [f'train_dataloader.dataset.datasets.0.data_root={root}',
            f'train_dataloader.dataset.datasets.1.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', f'val_evaluator.ann_file={root}annotations/val.json']


def coco_options(root):
    return [f'train_dataloader.dataset.datasets.0.data_root={root}',
            f'train_dataloader.dataset.datasets.1.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.data_root={root}',
            f'val_evaluator.ann_file={root}annotations/instances_val2017.json',
            f'test_evaluator.ann_file={root}annotations/instances_val2017.json']


def train_error(argv):
    """The message of the SystemExit that tools/train.py raises for ``argv`` (it must raise)."""
    with pytest.raises(SystemExit) as info:
        train_tool.main(argv)
    return str(info.value.code)


def test_unlabeled_dataset_with_other_classes_is_refused(synthetic_data, tmp_path):
    message = train_error([SYNTHETIC_CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
                           *synthetic_options(synthetic_data),
                           'train_dataloader.dataset.datasets.1.metainfo.classes=[cat,dog]'])
    assert message.startswith('error: the datasets disagree on their classes')
    assert "train_dataloader.dataset.datasets.0 (ann_file 'annotations/labeled.json'): " \
           "('ellipse', 'rectangle', 'triangle')" in message
    assert "train_dataloader.dataset.datasets.1 (ann_file 'annotations/unlabeled.json'): " \
           "('cat', 'dog')" in message
    assert not os.listdir(tmp_path)  # nothing was built or written


def test_dataset_without_metainfo_gets_the_default_classes_and_is_refused():
    """The known pitfall: metainfo on the labeled set only; the other one gets COCO's 80 classes."""
    cfg = Config(dict(train_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
        dict(type='CocoDataset', ann_file='l.json', metainfo=dict(classes=('tree', ))),
        dict(type='CocoDataset', ann_file='u.json')]))))
    with pytest.raises(DataCheckError) as info:
        check_same_classes(cfg)
    assert "('tree')" in str(info.value)
    assert "('person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', ... (80 in all))" in \
        str(info.value)


def test_val_dataset_with_other_classes_is_refused(synthetic_data, tmp_path):
    message = train_error([SYNTHETIC_CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
                           *synthetic_options(synthetic_data),
                           'val_dataloader.dataset.metainfo.classes=[ellipse]'])
    assert 'val_dataloader.dataset (ann_file' in message and "('ellipse')" in message


def test_missing_coco_split_files_name_the_split_command(tmp_path):
    root = make_fake_coco(str(tmp_path / 'coco'), folds=(1, ), percents=(10, ))
    message = train_error([COCO_10PCT, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                           *coco_options(root), 'fold=2'])
    labeled = f'{root}annotations/semi_supervised/instances_train2017.2@10.json'
    unlabeled = f'{root}annotations/semi_supervised/instances_train2017.2@10-unlabeled.json'
    command = (f'python tools/data/split_coco.py {root}annotations/instances_train2017.json '
               f'--percent 10 --fold 2')
    assert f'train_dataloader.dataset.datasets.0.ann_file: {labeled} does not exist' in message
    assert f'train_dataloader.dataset.datasets.1.ann_file: {unlabeled} does not exist' in message
    assert message.count(command) == 2
    # fold 1 exists: no complaint.
    cfg = Config.fromfile(COCO_10PCT)
    cfg.merge_from_dict(dict(a.split('=', 1) for a in coco_options(root)))
    from ssod.apis.split_placeholders import resolve_split_placeholders
    assert missing_data_paths(resolve_split_placeholders(cfg)) == []


def test_missing_image_folder_and_val_file_are_named(synthetic_data, tmp_path):
    empty = str(tmp_path / 'nothing') + '/'
    message = train_error([SYNTHETIC_CONFIG, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                           *synthetic_options(empty)])
    assert f'train_dataloader.dataset.datasets.0.data_prefix.img: image folder {empty}images/ ' \
           f'does not exist' in message
    assert f'val_evaluator.ann_file: {empty}annotations/val.json does not exist' in message
    assert 'split_coco.py' not in message  # not a COCO split file


@pytest.mark.parametrize('option, message', [
    ('fold=9', 'fold must be an integer in 1..5, got 9'),
    ('percent=150', r'percent must be in (0, 100), got 150'),
])
def test_bad_fold_or_percent_stops_training(tmp_path, option, message):
    error = train_error([COCO_10PCT, '--work-dir', str(tmp_path), '--cfg-options', option])
    assert message in error


def test_split_hint_only_for_split_files():
    assert split_hint('data/coco/annotations/instances_val2017.json') == ''
    hint = split_hint('data/coco/annotations/semi_supervised/instances_train2017.3@0.5-unlabeled.json')
    assert hint.endswith('python tools/data/split_coco.py data/coco/annotations/instances_train2017.json '
                         '--percent 0.5 --fold 3')


def test_missing_hidden_gt_file_is_named_with_the_way_out(tmp_path):
    root = make_fake_coco(str(tmp_path / 'coco'))
    os.remove(osp.join(root, 'annotations', 'instances_train2017.json'))
    cfg = Config.fromfile(COCO_10PCT)
    cfg.merge_from_dict(dict(a.split('=', 1) for a in coco_options(root)))
    from ssod.apis.split_placeholders import resolve_split_placeholders
    problems = missing_data_paths(resolve_split_placeholders(cfg))
    assert problems == [f'train_dataloader.dataset.datasets.1.hidden_gt_file: {root}annotations/'
                        'instances_train2017.json does not exist (it only feeds the pseudo-label '
                        'precision/recall logs: set hidden_gt_file=None in this dataset to train '
                        'without them)']
    cfg.train_dataloader.dataset.datasets[1].hidden_gt_file = None
    assert missing_data_paths(resolve_split_placeholders(cfg)) == []
