"""Tests of ssod/analysis/strong_view_pictures.py and show_pseudo_labels.py --views: layout, colours where
the boxes are, sizes, one PNG per image, same seed -> same bytes, bad input."""
import os
import os.path as osp

import numpy as np
import pytest

from ssod.analysis import strong_view_pictures as pictures
from ssod.analysis.pseudo_label_inputs import STAGE_CLS, STAGE_DETECTED, STAGE_INITIAL, STAGE_REG
from ssod.analysis.pseudo_label_pictures import COLOURS, GT, LEGEND_ROW, MIN_WIDTH, canvas_box
from ssod.analysis.view_pseudo_labels import ViewBoxes, ViewPseudoLabels
from tests.scripts import load_script

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
tool = load_script('tools/analysis/show_pseudo_labels.py')
SYNTHETIC_CONFIG = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                            'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')
THRESHOLDS = dict(pseudo_label_initial_score_thr=0.5, cls_pseudo_thr=0.9, reg_pseudo_thr=0.02)
# The random-init teacher scores about 0.25-0.32 and its jitter uncertainty is 0.03-0.08: these
# thresholds spread the drawn boxes over all four stages.
MIN_SCORE = 0.275
STAGE_THRESHOLDS = dict(pseudo_label_initial_score_thr=0.28, cls_pseudo_thr=0.29, reg_pseudo_thr=0.05)
STAGE_OPTIONS = {f'model.semi_train_cfg.{key}': value for key, value in STAGE_THRESHOLDS.items()}

pytestmark = pytest.mark.usefixtures('single_torch_thread')


def colour_at(picture, x, y):
    return tuple(int(v) for v in picture[y, x])


def _view(shape, boxes, scores, stages, gt, transforms):
    n = len(boxes)
    return ViewBoxes(
        pixels=np.zeros(shape + (3,), np.uint8), homography=np.eye(3), transforms=transforms,
        bboxes=np.asarray(boxes, np.float32).reshape(-1, 4), scores=np.asarray(scores, np.float32),
        labels=np.zeros(n, np.int64), reg_uncertainty=np.zeros(n, np.float32),
        stages=np.asarray(stages, np.int64), gt_bboxes=np.asarray(gt, np.float32).reshape(-1, 4),
        gt_labels=np.zeros(len(gt), np.int64))


def test_two_panels_with_boxes_in_stage_colours_gap_and_legend():
    stages = [STAGE_DETECTED, STAGE_INITIAL, STAGE_CLS, STAGE_REG, STAGE_DETECTED]
    scores = [0.4, 0.6, 0.95, 0.97, 0.1]  # the last is below min_score: not drawn
    teacher = _view((40, 50), [[2, 2, 10, 10], [12, 2, 20, 10], [22, 2, 30, 10], [32, 2, 40, 10],
                               [2, 20, 10, 30]], scores, stages, [[32, 20, 48, 36]], ['Resize (scale 1)'])
    # Strong view 30 x 40 px: the boxes moved 2 px down; the GT shares the left edge of the 'reg' box.
    student = _view((30, 40), [[2, 4, 10, 12], [12, 4, 20, 12], [22, 4, 30, 12], [30, 4, 38, 12],
                               [2, 20, 10, 28]], scores, stages, [[30, 4, 39, 20]],
                    ['Rotate (rotate 10.0 deg)', 'RandomErasing'])
    image = ViewPseudoLabels(img_id=7, img_path='/x/tile.png', ori_shape=(40, 50), seed=11, teacher=teacher,
                             student=student, num_left_view=0)
    picture = pictures.draw_views(image, THRESHOLDS, min_score=0.3, scale=5)
    rows = pictures.legend_rows(image, THRESHOLDS, 0.3, 5, picture.shape[1])
    assert len(rows) >= 8
    assert picture.shape == (5 * 40 + 4 + LEGEND_ROW * len(rows), 5 * (50 + 40) + pictures.GAP, 3)
    right = 5 * 50 + pictures.GAP  # the strong view starts here
    for box, stage in zip(teacher.bboxes[:4], stages):  # top edges, 8 px right of the corner
        assert colour_at(picture, int(box[0]) * 5 + 8, int(box[1]) * 5) == COLOURS[stage]
    for box, stage in zip(student.bboxes[:3], stages):
        assert colour_at(picture, right + int(box[0]) * 5 + 8, int(box[1]) * 5) == COLOURS[stage]
    assert colour_at(picture, right + 34 * 5, 12 * 5 - 1) == COLOURS[STAGE_REG]  # bottom edge of 'reg'
    assert colour_at(picture, right + 30 * 5, 8 * 5) == COLOURS[GT]  # shared left edge: GT on top
    assert colour_at(picture, 32 * 5 + 8, 20 * 5) == COLOURS[GT]  # the teacher view's GT
    assert colour_at(picture, right + 2 * 5, 24 * 5) == (0, 0, 0)  # below min_score: not drawn
    assert colour_at(picture, 5 * 50 + 3, 100) == pictures.GAP_COLOUR
    assert colour_at(picture, right + 20, 5 * 30 + 10) == (0, 0, 0)  # below the shorter view
    texts = [text for _, text, _ in rows]
    assert 'score > 0.9 (cls_pseudo_thr): teacher view 1, student view 1' in texts
    assert 'hidden GT: teacher view 1, student view 1' in texts
    assert texts[-1] == 'student view: Rotate (rotate 10.0 deg), RandomErasing'
    assert texts[-2] == 'teacher view: Resize (scale 1)'
    y = 5 * 40 + 4
    for colour, _, _ in rows:  # each kind's swatch in its colour
        if colour is not None:
            assert colour_at(picture, 14, y + 7) == colour
        y += LEGEND_ROW


def test_long_rows_wrap_to_the_picture_width():
    pieces = pictures.wrap(' '.join(['RandomErasing'] * 30), 300)
    assert len(pieces) > 1 and all(p.startswith('RandomErasing') for p in pieces)
    assert ' '.join(pieces) == ' '.join(['RandomErasing'] * 30)


def _outline_points(box, scale, x0):
    (x1, y1), (x2, y2) = canvas_box(box, scale)
    xm, ym = (x1 + x2) // 2, (y1 + y2) // 2
    return [(x0 + xm, y1), (x0 + xm, y2), (x0 + x1, ym), (x0 + x2, ym)]


def _check_boxes_in_panel(picture, view, scale, x0):
    """Outline pixels of the drawn boxes carry stage colours; every stage drawn shows its colour on one
    of its boxes; the topmost box (drawn last) shows its colour on at least 3 of its 4 edges."""
    drawn = np.flatnonzero(view.scores >= MIN_SCORE)
    allowed = {COLOURS[k] for k in (GT, STAGE_DETECTED, STAGE_INITIAL, STAGE_CLS, STAGE_REG)}
    seen = set()
    for i in drawn:
        found = [colour_at(picture, x, y) for x, y in _outline_points(view.bboxes[i], scale, x0)]
        assert set(found) <= allowed, (i, found)
        if COLOURS[int(view.stages[i])] in found:
            seen.add(int(view.stages[i]))
    assert seen == set(view.stages[drawn].tolist())
    top = max(drawn, key=lambda i: (view.stages[i], view.scores[i]))
    found = [colour_at(picture, x, y) for x, y in _outline_points(view.bboxes[top], scale, x0)]
    assert found.count(COLOURS[int(view.stages[top])]) >= 3


def test_pictures_of_the_views_are_written_reproducibly(synthetic_data, init_checkpoint, tmp_path):
    options = {'train_dataloader.dataset.datasets.1.data_root': synthetic_data + '/', **STAGE_OPTIONS}
    args = [SYNTHETIC_CONFIG, init_checkpoint, '--views', '--num-images', '2', '--seed', '3',
            '--min-score', str(MIN_SCORE), '--cfg-options', *[f'{k}={v}' for k, v in options.items()]]
    assert tool.main(args + ['--out', str(tmp_path / 'tool')]) == 0
    said = []
    written = pictures.show_strong_view_pictures(SYNTHETIC_CONFIG, init_checkpoint, str(tmp_path / 'again'),
                                                 num_images=2, min_score=MIN_SCORE, seed=3,
                                                 cfg_options=options, print_fn=said.append)
    assert len(written) == len(said) == 2
    assert sorted(os.listdir(tmp_path / 'tool')) == sorted(osp.basename(w['png']) for w in written)
    stages_drawn = set()
    for entry in written:
        image, scale = entry['image'], entry['scale']
        with open(entry['png'], 'rb') as f, open(tmp_path / 'tool' / osp.basename(entry['png']), 'rb') as g:
            assert f.read() == g.read()  # same seed, same bytes
        picture = pictures.cv2.imread(entry['png'])
        (h_t, w_t), (h_s, w_s) = image.teacher.shape, image.student.shape
        assert scale == pictures.auto_scale(max(h_t, h_s), max(w_t, w_s)) >= 6  # 48-80 px views
        rows = pictures.legend_rows(image, STAGE_THRESHOLDS, MIN_SCORE, scale, picture.shape[1])
        assert picture.shape == (scale * max(h_t, h_s) + 4 + LEGEND_ROW * len(rows),
                                 max(scale * (w_t + w_s) + pictures.GAP, MIN_WIDTH), 3)
        _check_boxes_in_panel(picture, image.teacher, scale, 0)
        _check_boxes_in_panel(picture, image.student, scale, scale * w_t + pictures.GAP)
        stages_drawn |= set(image.student.stages[image.student.scores >= MIN_SCORE].tolist())
        assert image.student.transforms and image.student.transforms[0].startswith('Resize (scale ')
    assert stages_drawn == {STAGE_DETECTED, STAGE_INITIAL, STAGE_CLS, STAGE_REG}
    other = pictures.show_strong_view_pictures(SYNTHETIC_CONFIG, init_checkpoint, str(tmp_path / 'other'),
                                               num_images=2, min_score=MIN_SCORE, seed=4,
                                               cfg_options=options, print_fn=said.append)
    assert any(not np.array_equal(pictures.cv2.imread(a['png']), pictures.cv2.imread(b['png']))
               for a, b in zip(written, other))


def test_views_need_a_semi_config_and_good_arguments(synthetic_data, init_checkpoint, tmp_path, capsys):
    options = {'train_dataloader.dataset.datasets.1.data_root': synthetic_data + '/',
               'train_dataloader.dataset.datasets.1.ann_file': 'annotations/labeled.json'}
    code = tool.main([SYNTHETIC_CONFIG, init_checkpoint, '--views', '--out', str(tmp_path / 'o'),
                      '--cfg-options', *[f'{k}={v}' for k, v in options.items()]])
    err = capsys.readouterr().err
    assert code == 2 and 'no unlabeled training dataset with a pipeline' in err
    with pytest.raises(pictures.PseudoLabelInputError, match='--scale must be a positive integer'):
        pictures.show_strong_view_pictures(SYNTHETIC_CONFIG, init_checkpoint, str(tmp_path / 'o'), scale=0)
    assert not (tmp_path / 'o').exists()
