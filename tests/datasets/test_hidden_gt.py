"""Hidden ground truth of unlabeled images: loading (separate file or the original corpus file), label
mapping by class name, the checks against the unlabeled set, and its way through the unlabeled pipeline
(teacher view only, original image frame)."""
import copy
import json
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import ssod  # noqa: F401
from ssod.datasets.hidden_gt import HIDDEN_GT_BBOXES, HIDDEN_GT_LABELS, load_hidden_gt
from ssod.registry import DATASETS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEMI_SYNTHETIC = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', 'semi_synthetic.py')
CLASSES = ('ellipse', 'rectangle', 'triangle')


@pytest.fixture(autouse=True)
def ssod_scope():
    init_default_scope('ssod')


def read(root, name):
    with open(osp.join(root, 'annotations', name)) as f:
        return json.load(f)


def write(path, coco):
    with open(path, 'w') as f:
        json.dump(coco, f)
    return str(path)


def build(root, hidden_gt_file, pipeline=()):
    return DATASETS.build(dict(
        type='CocoWithHiddenGT', data_root=root.rstrip('/') + '/', metainfo=dict(classes=CLASSES),
        ann_file='annotations/unlabeled.json', hidden_gt_file=hidden_gt_file,
        data_prefix=dict(img='images/'), filter_cfg=dict(filter_empty_gt=False),
        pipeline=list(pipeline)))


def expected_boxes(coco):
    """{image id: (xyxy boxes, labels)} from a COCO dict whose category ids are 1..3 in CLASSES order."""
    out = {img['id']: ([], []) for img in coco['images']}
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        out[ann['image_id']][0].append([x, y, x + w, y + h])
        out[ann['image_id']][1].append(ann['category_id'] - 1)
    return out


def test_every_unlabeled_image_gets_its_boxes(synthetic_data):
    dataset = build(synthetic_data, 'annotations/unlabeled-hidden-gt.json')
    hidden = read(synthetic_data, 'unlabeled-hidden-gt.json')
    expected = expected_boxes(hidden)
    assert len(dataset) == len(hidden['images']) == 12
    total = 0
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        boxes, labels = expected[info['img_id']]
        np.testing.assert_allclose(info[HIDDEN_GT_BBOXES], np.asarray(boxes).reshape(-1, 4), rtol=1e-6)
        assert info[HIDDEN_GT_LABELS].tolist() == labels
        assert info['instances'] == []  # the training targets stay empty
        total += len(labels)
    assert total == len(hidden['annotations']) > 0


def test_without_hidden_gt_file_it_is_a_plain_coco_dataset(synthetic_data):
    plain = DATASETS.build(dict(
        type='CocoDataset', data_root=synthetic_data + '/', metainfo=dict(classes=CLASSES),
        ann_file='annotations/unlabeled.json', data_prefix=dict(img='images/'),
        filter_cfg=dict(filter_empty_gt=False), pipeline=[]))
    dataset = build(synthetic_data, None)
    assert [dataset.get_data_info(i) for i in range(len(dataset))] == \
        [plain.get_data_info(i) for i in range(len(plain))]


def test_original_corpus_file_with_more_images_and_other_category_ids(synthetic_data, tmp_path):
    """As for COCO partial splits: the whole train file (labeled + unlabeled images) is the hidden GT;
    its category ids differ from the unlabeled file's, names decide the labels; crowd boxes skipped."""
    labeled, hidden = read(synthetic_data, 'labeled.json'), read(synthetic_data, 'unlabeled-hidden-gt.json')
    id_map = {1: 30, 2: 10, 3: 20}
    corpus = dict(images=labeled['images'] + hidden['images'],
                  categories=[dict(c, id=id_map[c['id']]) for c in hidden['categories']][::-1],
                  annotations=[dict(a, category_id=id_map[a['category_id']])
                               for a in labeled['annotations'] + hidden['annotations']])
    crowd_image = hidden['images'][0]['id']
    corpus['annotations'].append(dict(id=10 ** 6, image_id=crowd_image, category_id=10,
                                      bbox=[1, 1, 20, 20], area=400, iscrowd=1))
    dataset = build(synthetic_data, write(tmp_path / 'instances_train.json', corpus))
    expected = expected_boxes(hidden)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert info[HIDDEN_GT_LABELS].tolist() == expected[info['img_id']][1]
        np.testing.assert_allclose(info[HIDDEN_GT_BBOXES],
                                   np.asarray(expected[info['img_id']][0]).reshape(-1, 4), rtol=1e-6)


def test_ids_that_do_not_match_are_a_clear_error(synthetic_data):
    """val.json is not the ground truth of the unlabeled images: the error names the file and ids."""
    unlabeled_ids = sorted(img['id'] for img in read(synthetic_data, 'unlabeled.json')['images'])
    with pytest.raises(ValueError) as error:
        build(synthetic_data, 'annotations/val.json')
    message = str(error.value)
    assert 'annotations/val.json' in message and 'does not match the unlabeled set' in message
    assert '12 of its 12 image ids are not in the file' in message
    assert str(unlabeled_ids[:5]) in message


def test_same_ids_but_other_images_are_a_clear_error(synthetic_data, tmp_path):
    hidden = read(synthetic_data, 'unlabeled-hidden-gt.json')
    hidden['images'][0] = dict(hidden['images'][0], file_name='someone_else.png')
    path = write(tmp_path / 'renamed.json', hidden)
    with pytest.raises(ValueError, match=r'renamed.json does not match .* 1 image ids name other files '
                                         r'\(id \d+: .* vs someone_else.png\)'):
        build(synthetic_data, path)


def test_missing_file_and_wrong_classes_are_clear_errors(synthetic_data, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.json does not exist.*hidden_gt_file=None'):
        build(synthetic_data, 'annotations/nope.json')
    other = read(synthetic_data, 'unlabeled-hidden-gt.json')
    other['categories'] = [dict(c, name=f'other{c["id"]}') for c in other['categories']]
    with pytest.raises(ValueError, match='has none of the data set classes'):
        load_hidden_gt(write(tmp_path / 'other.json', other), CLASSES)
    with pytest.raises(ValueError, match='is not a COCO detection file: no "annotations"'):
        load_hidden_gt(write(tmp_path / 'bad.json', dict(images=[])), CLASSES)


def test_hidden_gt_reaches_the_teacher_view_only_in_the_original_frame(synthetic_data):
    cfg = Config.fromfile(SEMI_SYNTHETIC)
    dataset_cfg = copy.deepcopy(cfg.unlabeled_dataset)
    dataset_cfg.data_root = synthetic_data + '/'
    dataset = DATASETS.build(dataset_cfg)
    np.random.seed(0)
    hidden = expected_boxes(read(synthetic_data, 'unlabeled-hidden-gt.json'))
    for i in range(4):
        item = dataset[i]
        teacher, student = item['data_samples']['unsup_teacher'], item['data_samples']['unsup_student']
        boxes, labels = hidden[teacher.img_id]
        np.testing.assert_allclose(teacher.hidden_gt_bboxes, np.asarray(boxes).reshape(-1, 4), rtol=1e-6)
        assert teacher.hidden_gt_labels.tolist() == labels
        for key in (HIDDEN_GT_BBOXES, HIDDEN_GT_LABELS):
            assert key not in student.metainfo and key not in student
        assert len(teacher.gt_instances) == 0 and len(student.gt_instances) == 0
