"""Tests of ssod/analysis/curves.py and tools/analysis/plot_curves.py: what is read
from scalars.json, what is drawn, bad input."""
import json
import os.path as osp
import struct

import cv2
import numpy as np
import pytest

from ssod.analysis import curves as plot_curves
from tests.scripts import load_script

tool = load_script('tools/analysis/plot_curves.py')

# matplotlib's first line colour (tab:blue), in BGR as cv2 reads it.
FIRST_LINE_BGR = (180, 119, 31)


def write_lines(path, records):
    import os
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        for record in records:
            f.write(json.dumps(record) + '\n')


def train_line(step, **values):
    return dict(lr=0.01, data_time=0.1, time=1.0, iter=step, step=step, **values)


def fake_run(work_dir):
    """Train lines at iterations 1..4 (as mmengine writes them) and two validation lines."""
    records = [
        train_line(1, loss=3.0, sup_loss_cls=1.0, unsup_loss_cls=0.0,
                   **{'pseudo/precision_cls': 0.25, 'pseudo/recall_cls': 0.1,
                      'pseudo/cls_per_img': 2.0}),
        train_line(2, loss=2.5, sup_loss_cls=0.8, unsup_loss_cls=0.5,
                   **{'pseudo/precision_cls': 0.5, 'pseudo/recall_cls': 0.2,
                      'pseudo/cls_per_img': 3.0}),
        # A validation line as LoggerHook(log_metric_by_epoch=True) writes it: step = epoch = 0;
        # it belongs to iteration 2, after which it ran.
        {'coco/bbox_mAP': 0.1, 'coco/bbox_mAP_50': 0.3, 'teacher/coco/bbox_mAP': 0.12,
         'student/coco/bbox_mAP': 0.11, 'data_time': 0.0, 'time': 0.2, 'step': 0},
        train_line(3, loss=2.0, sup_loss_cls=0.7, unsup_loss_cls=0.6),  # no pseudo stats this time
        train_line(4, loss=1.5, sup_loss_cls=0.6, unsup_loss_cls=0.7,
                   **{'pseudo/precision_cls': 0.75, 'pseudo/recall_cls': 0.4,
                      'pseudo/cls_per_img': 4.0}),
        {'coco/bbox_mAP': 0.2, 'coco/bbox_mAP_50': 0.5, 'teacher/coco/bbox_mAP': 0.22,
         'student/coco/bbox_mAP': 0.21, 'data_time': 0.0, 'time': 0.2, 'step': 4},
    ]
    write_lines(osp.join(work_dir, '20260101_000000', 'vis_data', 'scalars.json'), records)
    return records


def png_size(path):
    """(width, height) from the PNG header; also checks the signature."""
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n', f'{path} is not a PNG'
    assert head[12:16] == b'IHDR'
    return struct.unpack('>II', head[16:24])


def test_default_groups_plot_exactly_the_logged_values(tmp_path):
    work_dir = str(tmp_path / 'run')
    fake_run(work_dir)
    out = str(tmp_path / 'curves')
    result = plot_curves.plot_curves([work_dir], out, print_fn=lambda *_: None)

    # Groups with matching keys get a PNG; 'pseudo_statistics' (train/pseudo/*_mean) has none.
    assert list(result) == ['losses', 'pseudo_precision_recall', 'pseudo_boxes_per_image', 'bbox_mAP']
    assert sorted(p.name for p in (tmp_path / 'curves').iterdir()) == sorted(
        f'{name}.png' for name in result)
    losses = result['losses']['lines']
    assert list(losses) == ['loss', 'sup_loss_cls', 'unsup_loss_cls']
    assert losses['loss'] == ([1, 2, 3, 4], [3.0, 2.5, 2.0, 1.5])
    assert losses['unsup_loss_cls'] == ([1, 2, 3, 4], [0.0, 0.5, 0.6, 0.7])
    pr = result['pseudo_precision_recall']['lines']
    assert pr == {'pseudo/precision_cls': ([1, 2, 4], [0.25, 0.5, 0.75]),
                  'pseudo/recall_cls': ([1, 2, 4], [0.1, 0.2, 0.4])}
    maps = result['bbox_mAP']['lines']
    assert maps == {'coco/bbox_mAP': ([2, 4], [0.1, 0.2]), 'coco/bbox_mAP_50': ([2, 4], [0.3, 0.5]),
                    'teacher/coco/bbox_mAP': ([2, 4], [0.12, 0.22]),
                    'student/coco/bbox_mAP': ([2, 4], [0.11, 0.21])}
    for name, entry in result.items():
        assert png_size(entry['png']) == (800, 450)
        pixels = cv2.imread(entry['png'])
        assert pixels.shape == (450, 800, 3)
        # The first curve is drawn (its colour covers some pixels), the rest is not blank either.
        first_line = np.all(np.abs(pixels.astype(int) - FIRST_LINE_BGR) <= 10, axis=2).sum()
        assert first_line > 50, name


# Three lines of a real scalars.json (4 iterations of configs/soft_teacher/..._synthetic.py on the
# synthetic shapes, thresholds lowered to 0.05, mmengine 0.10.7, default LoggerHook), some keys left out.
REAL_LINES = """\
{"lr": 0.001, "data_time": 0.0496, "unsup_weight": 0.02695, "pseudo/initial_per_img": 100.0, \
"pseudo/score_mean": 0.3438, "pseudo/reg_uncertainty_mean": 0.04698, "pseudo/cls_per_img/0": 51.0, \
"pseudo/gt_per_img": 5.0, "pseudo/precision_cls": 0.0, "pseudo/recall_cls": 0.0, \
"pseudo/cls_per_img": 94.0, "pseudo/bg_weight_mean": 0.2255, "grad_norm": 17.17, "loss": 2.552, \
"sup_loss_cls": 1.525, "sup_acc": 2.34375, "unsup_loss_cls": 0.0364, "time": 8.24, \
"ema_momentum": 0.99, "iter": 1, "step": 1}
{"lr": 0.01, "data_time": 0.1496, "unsup_weight": 1.146, "pseudo/initial_per_img": 100.0, \
"pseudo/score_mean": 0.3237, "pseudo/reg_uncertainty_mean": 0.0516, "pseudo/cls_per_img/0": 84.0, \
"pseudo/gt_per_img": 1.0, "pseudo/precision_cls": 0.0, "pseudo/recall_cls": 0.0, \
"pseudo/cls_per_img": 94.0, "pseudo/bg_weight_mean": 0.2494, "grad_norm": 70.01, "loss": 3.972, \
"sup_loss_cls": 0.8942, "sup_acc": 97.66, "unsup_loss_cls": 1.896, "time": 6.11, \
"ema_momentum": 0.995, "iter": 4, "step": 4}
{"coco/bbox_mAP": 0.001, "coco/bbox_mAP_50": 0.005, "coco/bbox_mAP_75": 0.0, "coco/bbox_mAP_s": 0.002, \
"coco/bbox_mAP_m": -1.0, "coco/bbox_mAP_l": -1.0, "data_time": 0.0146, "time": 0.9868, "step": 0}
"""


def test_real_log_lines(tmp_path):
    path = tmp_path / 'run' / '20261130_175140' / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text(REAL_LINES)
    result = plot_curves.plot_curves([str(tmp_path / 'run')], str(tmp_path / 'out'),
                                     print_fn=lambda *_: None)
    assert list(result) == list(plot_curves.DEFAULT_GROUPS)
    assert result['losses']['lines'] == {'loss': ([1, 4], [2.552, 3.972]),
                                         'sup_loss_cls': ([1, 4], [1.525, 0.8942]),
                                         'unsup_loss_cls': ([1, 4], [0.0364, 1.896])}
    assert list(result['pseudo_precision_recall']['lines']) == ['pseudo/precision_cls',
                                                                'pseudo/recall_cls']
    assert list(result['pseudo_boxes_per_image']['lines']) == [
        'pseudo/initial_per_img', 'pseudo/cls_per_img/0', 'pseudo/gt_per_img', 'pseudo/cls_per_img']
    assert result['pseudo_statistics']['lines']['pseudo/bg_weight_mean'] == ([1, 4], [0.2255, 0.2494])
    # The validation ran after iteration 4 although the line says step 0 (the epoch).
    assert result['bbox_mAP']['lines']['coco/bbox_mAP'] == ([4], [0.001])
    # mAP_m and mAP_l are -1 (COCO: no object of that size): undefined, not drawn.
    assert list(result['bbox_mAP']['lines']) == ['coco/bbox_mAP', 'coco/bbox_mAP_50',
                                                 'coco/bbox_mAP_75', 'coco/bbox_mAP_s']


def test_keys_option_size_and_main(tmp_path):
    work_dir = str(tmp_path / 'run')
    fake_run(work_dir)
    out = tmp_path / 'out'
    assert tool.main([work_dir, '--out', str(out), '--size', '400', '300', '--keys',
                             'sup=sup_*', 'lr']) == 0
    assert sorted(p.name for p in out.iterdir()) == ['lr.png', 'sup.png']
    assert png_size(str(out / 'sup.png')) == (400, 300)
    assert plot_curves.parse_group('teacher=teacher/*,student/*') == ('teacher',
                                                                      ['teacher/*', 'student/*'])
    assert plot_curves.parse_group('train/pseudo/*') == ('train_pseudo', ['train/pseudo/*'])
    # Default output folder: <work dir>/curves.
    assert tool.main([work_dir, '--keys', 'loss']) == 0
    assert osp.isfile(osp.join(work_dir, 'curves', 'loss.png'))


def test_resumed_run_is_continued_and_several_runs_are_labelled(tmp_path):
    work_dir = str(tmp_path / 'run')
    write_lines(osp.join(work_dir, '20260101_000000', 'vis_data', 'scalars.json'),
                [train_line(1, loss=3.0), train_line(2, loss=2.0)])
    # The resumed part re-logs iteration 2 (later value wins) and continues.
    write_lines(osp.join(work_dir, '20260101_010000', 'vis_data', 'scalars.json'),
                [train_line(2, loss=1.9), train_line(3, loss=1.0)])
    other = str(tmp_path / 'other')
    write_lines(osp.join(other, '20260102_000000', 'vis_data', 'scalars.json'),
                [train_line(1, loss=5.0)])
    result = plot_curves.plot_curves([work_dir, other], str(tmp_path / 'out'), {'loss': ['loss']},
                                     print_fn=lambda *_: None)
    assert result['loss']['lines'] == {'run: loss': ([1, 2, 3], [3.0, 1.9, 1.0]),
                                       'other: loss': ([1], [5.0])}
    # A single file is a run too.
    single = plot_curves.plot_curves(
        [osp.join(other, '20260102_000000', 'vis_data', 'scalars.json')], str(tmp_path / 'o2'),
        {'loss': ['loss']}, print_fn=lambda *_: None)
    assert single['loss']['lines'] == {'loss': ([1], [5.0])}


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(plot_curves.CurveInputError, match='does not exist'):
        plot_curves.plot_curves([str(tmp_path / 'nowhere')], str(tmp_path / 'out'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(plot_curves.CurveInputError, match='no <timestamp>/vis_data/scalars.json'):
        plot_curves.plot_curves([str(tmp_path / 'empty')], str(tmp_path / 'out'))
    log = tmp_path / 'run.log'
    log.write_text('2026/01/01 00:00:00 - mmengine - INFO - Iter(train) [1/4] loss: 1.0\n')
    with pytest.raises(plot_curves.CurveInputError, match='text log'):
        plot_curves.plot_curves([str(log)], str(tmp_path / 'out'))
    broken = tmp_path / 'broken.json'
    broken.write_text(json.dumps(train_line(1, loss=1.0)) + '\n{"loss": 1.0, "st\n')
    with pytest.raises(plot_curves.CurveInputError, match=r'broken.json, line 2: not JSON'):
        plot_curves.plot_curves([str(broken)], str(tmp_path / 'out'))
    no_step = tmp_path / 'no_step.json'
    no_step.write_text('{"loss": 1.0}\n')
    with pytest.raises(plot_curves.CurveInputError, match='line 1: no numeric "step"'):
        plot_curves.plot_curves([str(no_step)], str(tmp_path / 'out'))
    good = tmp_path / 'good.json'
    good.write_text(json.dumps(train_line(1, loss=1.0)) + '\n')
    with pytest.raises(plot_curves.CurveInputError, match=r"keys in the logs: \['data_time', 'loss'"):
        plot_curves.plot_curves([str(good)], str(tmp_path / 'out'), {'x': ['nothing*']})
    assert tool.main([str(tmp_path / 'nowhere')]) == 2
    assert 'error:' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
