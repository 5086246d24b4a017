"""KeepInstanceScores: through a real pipeline (LoadAnnotations -> KeepInstanceScores([RandomCrop,
RandomFlip, RandAugment geometric, RandomErasing, FilterAnnotations]) -> PackScoredDetInputs) every surviving
box keeps its own score, label and ignore flag; exact scores after a filter; None passes through; images
without scores or boxes; the errors."""
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope

import ssod  # noqa: F401

SIZE = 128
GRID = [12 + 20 * i for i in range(6)]  # box centres, 20 px apart
CENTRES = np.array([(x, y) for y in GRID for x in GRID], dtype=np.float64)
SCORES = (np.arange(len(CENTRES)) + 1) / 100  # box k has score (k + 1) / 100: the score names the box
LABELS = np.arange(len(CENTRES)) % 3
CROWD = np.arange(len(CENTRES)) % 7 == 3
GEOMETRIC = [[dict(type='Rotate')], [dict(type='ShearX')], [dict(type='ShearY')], [dict(type='TranslateX')],
             [dict(type='TranslateY')]]


@pytest.fixture(autouse=True)
def ssod_scope():
    init_default_scope('ssod')


def raw_results(with_scores=True):
    instances = []
    for k, (x, y) in enumerate(CENTRES):
        instance = dict(bbox=[x - 4, y - 4, x + 4, y + 4], bbox_label=int(LABELS[k]), ignore_flag=int(CROWD[k]))
        if with_scores:
            instance['score'] = float(SCORES[k])
        instances.append(instance)
    img = np.random.default_rng(0).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    return dict(img=img, img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), img_id=0, img_path='grid.png',
                instances=instances)


def pipeline(inner, pack=dict(type='PackScoredDetInputs', meta_keys=('img_shape', 'homography_matrix'))):
    return Compose([dict(type='LoadAnnotations', with_bbox=True),
                    dict(type='KeepInstanceScores', transforms=inner), pack])


def original_box(box, homography):
    """Index of the original box whose centre the output box's centre maps back to."""
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 1.0])
    back = np.linalg.inv(homography) @ centre
    distances = np.linalg.norm(CENTRES - back[:2] / back[2], axis=1)
    assert distances.min() < 8, distances.min()  # grid spacing 20 px: unambiguous
    return int(distances.argmin())


def test_every_surviving_box_keeps_its_own_score_and_label():
    transforms = pipeline([
        dict(type='RandomCrop', crop_size=(80, 80)),
        dict(type='RandomFlip', prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
        dict(type='RandAugment', aug_space=GEOMETRIC, aug_num=1),
        dict(type='RandomErasing', n_patches=(1, 5), ratio=(0, 0.2), bbox_erased_thr=0.5),
        dict(type='FilterAnnotations', min_gt_bbox_wh=(5, 5), keep_empty=False),
    ])
    survivors = 0
    for seed in range(12):
        np.random.seed(seed)
        packed = transforms(raw_results())
        sample = packed['data_samples']
        homography = np.asarray(sample.metainfo['homography_matrix'], dtype=np.float64)
        for instances, crowd in ((sample.gt_instances, False), (sample.ignored_instances, True)):
            assert instances.scores.dtype.is_floating_point
            assert len(instances.scores) == len(instances.bboxes) == len(instances.labels)
            for box, label, score in zip(instances.bboxes.tensor.numpy(), instances.labels.tolist(),
                                         instances.scores.tolist()):
                k = original_box(box, homography)
                assert score == pytest.approx(SCORES[k], abs=1e-7)
                assert label == LABELS[k]
                assert CROWD[k] == crowd
                survivors += 1
    assert 0 < survivors < 12 * len(CENTRES)  # boxes were dropped, some survived


def test_scores_follow_a_filter_exactly_and_none_passes_through():
    # boxes 0..35 of 8 px; FilterAnnotations by 9 px removes all -> None (keep_empty=True is mmdet's default)
    assert pipeline([dict(type='FilterAnnotations', min_gt_bbox_wh=(9, 9))])(raw_results()) is None
    results = raw_results()
    for k in (2, 17, 30):  # widen three boxes (17 is a crowd box); a 9 px filter keeps exactly them
        results['instances'][k]['bbox'][2] += 4
    packed = pipeline([dict(type='FilterAnnotations', min_gt_bbox_wh=(9, 1))])(results)
    gt, ignored = packed['data_samples'].gt_instances, packed['data_samples'].ignored_instances
    assert gt.scores.tolist() == pytest.approx([0.03, 0.31])
    assert gt.labels.tolist() == [2, 0]
    assert ignored.scores.tolist() == pytest.approx([0.18])
    assert ignored.labels.tolist() == [2]


def test_labeled_images_get_ones_and_empty_images_an_empty_array():
    wrapper = Compose([dict(type='LoadAnnotations', with_bbox=True),
                       dict(type='KeepInstanceScores', transforms=[dict(type='RandomFlip', prob=1.0)])])
    out = wrapper(raw_results(with_scores=False))
    assert out['gt_scores'].dtype == np.float32
    assert np.array_equal(out['gt_scores'], np.ones(len(CENTRES), np.float32))
    assert np.array_equal(out['gt_bboxes_labels'], LABELS)
    empty = Compose([dict(type='LoadEmptyAnnotations'),
                     dict(type='KeepInstanceScores', transforms=[dict(type='RandomFlip', prob=1.0)])])
    out = empty(dict(img=np.zeros((8, 8, 3), np.uint8), img_shape=(8, 8)))
    assert out['gt_scores'].shape == (0,) and out['gt_scores'].dtype == np.float32


def test_errors_name_the_fix():
    wrapper = Compose([dict(type='KeepInstanceScores', transforms=[])])
    with pytest.raises(KeyError, match='put LoadAnnotations'):
        wrapper(dict(img=np.zeros((8, 8, 3), np.uint8)))
    inner_pack = pipeline([dict(type='PackDetInputs')], pack=dict(type='PackScoredDetInputs'))
    with pytest.raises(KeyError, match='after the wrapper, not inside it'):
        inner_pack(raw_results())
