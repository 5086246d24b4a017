"""Tests of ssod/analysis/pseudo_label_report.py, tools/analysis/pseudo_label_report.py and the shared
ssod/analysis/pseudo_label_inputs.py: exact
precision/recall per threshold and class, the teacher run on synthetic data, bad input."""
import csv
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from ssod.analysis import pseudo_label_inputs, pseudo_label_report
from ssod.analysis.pseudo_label_inputs import ImagePseudoLabels, PseudoLabelInputError
from ssod.registry import MODELS
from tests.scripts import load_script

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
tool = load_script('tools/analysis/pseudo_label_report.py')

SYNTHETIC_CONFIG = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                            'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')
CLASSES = ('ellipse', 'rectangle', 'triangle')


pytestmark = pytest.mark.usefixtures('single_torch_thread')


def data_options(root):
    """--cfg-options pointing the synthetic config's unlabeled set at the generated data."""
    return {'train_dataloader.dataset.datasets.1.data_root': root.rstrip('/') + '/'}


def hidden_gt(root):
    """{image id: (boxes xyxy, labels)} read directly from the hidden-GT json."""
    with open(osp.join(root, 'annotations', 'unlabeled-hidden-gt.json')) as f:
        coco = json.load(f)
    out = {img['id']: ([], []) for img in coco['images']}
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        out[ann['image_id']][0].append([x, y, x + w, y + h])
        out[ann['image_id']][1].append(ann['category_id'] - 1)
    return out


def image(boxes, scores, labels, gt_boxes, gt_labels):
    n = len(scores)
    return ImagePseudoLabels(
        img_id=1, img_path='x.png', ori_shape=(64, 64),
        bboxes=np.asarray(boxes, np.float32).reshape(-1, 4), scores=np.asarray(scores, np.float32),
        labels=np.asarray(labels, np.int64), reg_uncertainty=np.zeros(n, np.float32),
        stages=np.zeros(n, np.int64), gt_bboxes=np.asarray(gt_boxes, np.float32).reshape(-1, 4),
        gt_labels=np.asarray(gt_labels, np.int64))


def test_sweep_gives_exact_precision_and_recall_per_threshold_and_class():
    images = [
        image(boxes=[[0, 0, 10, 10],     # class a, matches GT a -> TP
                     [1, 1, 10, 10],     # class a, duplicate of the same object -> FP
                     [20, 20, 30, 30],   # class a on the b object -> FP (wrong class)
                     [20, 20, 30, 30],   # class b -> TP
                     [50, 50, 60, 60]],  # class b, nothing there -> FP
              scores=[0.875, 0.8, 0.6, 0.4, 0.35], labels=[0, 0, 0, 1, 1],
              gt_boxes=[[0, 0, 10, 10], [20, 20, 30, 30]], gt_labels=[0, 1]),
        image(boxes=[[0, 0, 20, 19]], scores=[0.9], labels=[1],  # IoU 0.95 with its GT -> TP
              gt_boxes=[[0, 0, 20, 20]], gt_labels=[1]),
    ]
    table = pseudo_label_report.sweep(images, [0.3, 0.5, 0.85, 0.875], ('a', 'b'))
    got = {(t, name): (c.num_predictions, c.true_positives, c.num_ground_truths)
           for t, per_name in table.items() for name, c in per_name.items()}
    assert got == {
        (0.3, 'all'): (6, 3, 3), (0.3, 'a'): (3, 1, 1), (0.3, 'b'): (3, 2, 2),
        (0.5, 'all'): (4, 2, 3), (0.5, 'a'): (3, 1, 1), (0.5, 'b'): (1, 1, 2),
        (0.85, 'all'): (2, 2, 3), (0.85, 'a'): (1, 1, 1), (0.85, 'b'): (1, 1, 2),
        # score > threshold is strict, as in training: 0.875 does not pass 0.875 (exact in float32).
        (0.875, 'all'): (1, 1, 3), (0.875, 'a'): (0, 0, 1), (0.875, 'b'): (1, 1, 2),
    }
    rows = {(r['threshold'], r['cls']): r for r in pseudo_label_report.rows(table)}
    assert rows[(0.3, 'all')]['precision'] == 0.5 and rows[(0.3, 'all')]['recall'] == 1.0
    assert rows[(0.3, 'a')]['precision'] == pytest.approx(1 / 3)
    assert rows[(0.5, 'b')]['recall'] == 0.5 and rows[(0.5, 'all')]['false_positives'] == 2
    assert rows[(0.85, 'all')]['precision'] == 1.0
    assert rows[(0.85, 'all')]['recall'] == pytest.approx(2 / 3)
    assert rows[(0.875, 'a')]['precision'] is None and rows[(0.875, 'a')]['recall'] == 0.0
    # Class-major row order: all thresholds of 'all', then of 'a', then of 'b'.
    assert [r['cls'] for r in pseudo_label_report.rows(table)] == ['all'] * 4 + ['a'] * 4 + ['b'] * 4

    markdown = pseudo_label_report.format_table(pseudo_label_report.rows(table), 'markdown',
                                                {0.85: 'cls_pseudo_thr'})
    assert '| 0.3 | all | 6 | 3 | 3 | 3 | 0.500 | 1.000 |  |' in markdown
    assert '| 0.85 | all | 2 | 2 | 0 | 3 | 1.000 | 0.667 | cls_pseudo_thr |' in markdown
    assert '| 0.875 | a | 0 | 0 | 0 | 1 | - | 0.000 |  |' in markdown
    plain = pseudo_label_report.format_table(pseudo_label_report.rows(table), 'plain')
    assert plain.splitlines()[1].split() == ['0.3', 'all', '6', '3', '3', '3', '0.500', '1.000']


def injected_teacher(gt, scale):
    """A teacher ``predict`` that returns, per image, for every hidden GT box (in the view: times
    ``scale``): the box itself (score 0.95, its class), a 2 x 2 px box in the corner (0.6, its class)
    and the box with the next class (0.4)."""
    def predict(inputs, samples, rescale=True):
        assert rescale is False
        results = []
        for sample in samples:
            assert sample.scale_factor == (scale, scale)
            boxes, labels = gt[sample.img_id]
            boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4) * scale
            labels = torch.tensor(labels, dtype=torch.long)
            corner = torch.tensor([[0.0, 0.0, 2.0, 2.0]]).repeat(len(labels), 1)
            n = len(labels)
            sample = sample.clone()
            sample.pred_instances = InstanceData(
                bboxes=torch.cat([boxes, corner, boxes]),
                scores=torch.cat([torch.full((n,), 0.95), torch.full((n,), 0.6),
                                  torch.full((n,), 0.4)]),
                labels=torch.cat([labels, labels, (labels + 1) % len(CLASSES)]))
            results.append(sample)
        return results
    return predict


@pytest.mark.parametrize('scale', [1.0, 2.0])
def test_report_on_synthetic_data_with_injected_teacher_predictions(synthetic_data, init_checkpoint,
                                                                    tmp_path, monkeypatch, scale):
    gt = hidden_gt(synthetic_data)
    real_build = pseudo_label_inputs.build_teacher_model

    def build(cfg, ckpt, device='cpu'):
        model = real_build(cfg, ckpt, device)
        model.teacher.predict = injected_teacher(gt, scale)
        # SoftTeacher's tools take the detections with the features (one backbone pass): the same
        # injected detections, with the real teacher features for the jitter pass.
        model.teacher_detections = lambda inputs, samples: (
            model.teacher.extract_feat(inputs),
            [r.pred_instances for r in model.teacher.predict(inputs, samples, rescale=False)])
        return model
    monkeypatch.setattr(pseudo_label_inputs, 'build_teacher_model', build)
    options = data_options(synthetic_data)
    # The test pipeline's Resize (index 1) enlarges the view; boxes must come back to image pixels.
    options['test_dataloader.dataset.pipeline.1.scale_factor'] = scale
    result = pseudo_label_report.report(SYNTHETIC_CONFIG, init_checkpoint, [0.3, 0.5, 0.9, 0.95],
                                        cfg_options=options)

    per_class = np.bincount([label for _, labels in gt.values() for label in labels], minlength=3)
    total = int(per_class.sum())
    assert result['num_images'] == len(gt) == 12 and total > 0
    rows = {(r['threshold'], r['cls']): r for r in result['rows']}
    expected_all = {0.3: (3 * total, total), 0.5: (2 * total, total), 0.9: (total, total),
                    0.95: (0, 0)}
    for t, (num_pred, tp) in expected_all.items():
        row = rows[(t, 'all')]
        assert (row['pseudo_boxes'], row['true_positives'], row['gt_boxes']) == (num_pred, tp, total)
    assert rows[(0.3, 'all')]['precision'] == pytest.approx(1 / 3)
    assert rows[(0.5, 'all')]['precision'] == pytest.approx(1 / 2)
    assert rows[(0.9, 'all')]['precision'] == 1.0 and rows[(0.9, 'all')]['recall'] == 1.0
    for c, name in enumerate(CLASSES):
        row = rows[(0.3, name)]
        # own boxes + corner boxes + the swapped boxes of the previous class
        assert row['pseudo_boxes'] == 2 * per_class[c] + per_class[(c - 1) % 3]
        assert row['true_positives'] == row['gt_boxes'] == per_class[c]
    assert result['semi_train_cfg'] == {'pseudo_label_initial_score_thr': 0.5, 'cls_pseudo_thr': 0.9,
                                        'reg_pseudo_thr': 0.02}
    # Regression pseudo boxes are a subset of the score > 0.9 boxes, all of which are TPs here.
    reg = result['regression']
    assert reg['true_positives'] == reg['pseudo_boxes'] <= total


def test_end_to_end_command_line_with_a_checkpoint(synthetic_data, init_checkpoint, tmp_path, capsys):
    out_csv, out_json = tmp_path / 'r' / 'sweep.csv', tmp_path / 'r' / 'sweep.json'
    options = [f'{k}={v}' for k, v in data_options(synthetic_data).items()]
    code = tool.main([SYNTHETIC_CONFIG, init_checkpoint, '--thresholds', '0.05', '0.3',
                                     '--num-images', '5', '--csv', str(out_csv), '--json',
                                     str(out_json), '--cfg-options', *options])
    assert code == 0
    printed = capsys.readouterr().out
    assert 'Pseudo-label quality on 5 unlabeled image(s)' in printed
    assert 'classes ellipse, rectangle, triangle' in printed
    assert sum(line.startswith('| 0.3 |') for line in printed.splitlines()) == 4  # all + 3 classes
    assert '| threshold | class |' in printed
    with open(out_json) as f:
        result = json.load(f)
    with open(out_csv) as f:
        csv_rows = list(csv.DictReader(f))
    assert len(result['rows']) == len(csv_rows) == 2 * 4  # 2 thresholds x ('all' + 3 classes)
    gt = hidden_gt(synthetic_data)
    first_five = sorted(gt)[:5]
    num_gt = sum(len(gt[i][1]) for i in first_five)
    rows = {(r['threshold'], r['cls']): r for r in result['rows']}
    assert rows[(0.05, 'all')]['gt_boxes'] == rows[(0.3, 'all')]['gt_boxes'] == num_gt
    assert int(csv_rows[0]['gt_boxes']) == num_gt
    for t in (0.05, 0.3):
        parts = [rows[(t, c)] for c in CLASSES]
        assert rows[(t, 'all')]['pseudo_boxes'] == sum(p['pseudo_boxes'] for p in parts)
        assert rows[(t, 'all')]['true_positives'] == sum(p['true_positives'] for p in parts)
        assert 0 <= rows[(t, 'all')]['true_positives'] <= rows[(t, 'all')]['pseudo_boxes']
    assert rows[(0.05, 'all')]['pseudo_boxes'] >= rows[(0.3, 'all')]['pseudo_boxes']


def test_single_class_report_shows_only_the_all_rows():
    rows = [dict(threshold=0.5, cls=name, pseudo_boxes=4, true_positives=3, false_positives=1,
                 gt_boxes=6, precision=0.75, recall=0.5) for name in ('all', 'tree')]
    result = dict(rows=rows, classes=['tree'], num_images=2, unlabeled='u.json', hidden_gt='h.json',
                  semi_train_cfg=dict(pseudo_label_initial_score_thr=0.5, cls_pseudo_thr=0.9,
                                      reg_pseudo_thr=0.02),
                  regression=dict(pseudo_boxes=1, true_positives=1, gt_boxes=6, precision=1.0,
                                  recall=1 / 6))
    text = pseudo_label_report.render(result)
    assert '| 0.5 | all | 4 | 3 | 1 | 6 | 0.750 | 0.500 | pseudo_label_initial_score_thr |' in text
    assert '| tree |' not in text and 'classes tree' in text
    assert '1 boxes, 1 TP, precision 1.000, recall 0.167' in text


def test_plain_detector_config_and_checkpoint_are_wrapped_in_soft_teacher(tmp_path):
    cfg = Config.fromfile(SYNTHETIC_CONFIG)
    detector_cfg = cfg.model.detector
    init_default_scope('ssod')
    torch.manual_seed(1)
    detector = MODELS.build(detector_cfg)
    path = str(tmp_path / 'plain.pth')
    torch.save({'state_dict': detector.state_dict()}, path)
    cfg.model = detector_cfg
    model = pseudo_label_inputs.build_teacher_model(cfg, path)
    assert type(model).__name__ == 'SoftTeacher' and not model.training
    key = 'roi_head.bbox_head.fc_cls.weight'
    assert torch.equal(model.teacher.state_dict()[key], detector.state_dict()[key])


def test_bad_input_is_a_clear_error(synthetic_data, init_checkpoint, tmp_path, capsys):
    options = data_options(synthetic_data)
    with pytest.raises(PseudoLabelInputError, match=r'hidden ground-truth file .*nowhere.json does '
                                                     r'not exist.*--hidden-gt'):
        pseudo_label_report.report(SYNTHETIC_CONFIG, init_checkpoint,
                                   hidden_gt=str(tmp_path / 'nowhere.json'), cfg_options=options)
    with open(osp.join(synthetic_data, 'annotations', 'unlabeled-hidden-gt.json')) as f:
        coco = json.load(f)
    shifted = dict(coco, images=[dict(img, id=img['id'] + 1000) for img in coco['images']],
                   annotations=[dict(a, image_id=a['image_id'] + 1000) for a in coco['annotations']])
    wrong = tmp_path / 'other-split.json'
    wrong.write_text(json.dumps(shifted))
    with pytest.raises(PseudoLabelInputError, match=r'does not match the unlabeled set .*12 of its 12 '
                                                     r'image ids are not in the file'):
        pseudo_label_report.report(SYNTHETIC_CONFIG, init_checkpoint, hidden_gt=str(wrong),
                                   cfg_options=options)
    with pytest.raises(PseudoLabelInputError, match='checkpoint .*missing.pth does not exist'):
        pseudo_label_report.report(SYNTHETIC_CONFIG, str(tmp_path / 'missing.pth'), cfg_options=options)
    with pytest.raises(PseudoLabelInputError, match='unlabeled annotation file .*does not exist'):
        pseudo_label_report.report(SYNTHETIC_CONFIG, init_checkpoint,
                                   unlabeled_json=str(tmp_path / 'none.json'))
    with pytest.raises(PseudoLabelInputError, match=r'--thresholds must be scores in \[0, 1\)'):
        pseudo_label_report.report(SYNTHETIC_CONFIG, init_checkpoint, [0.5, 1.5], cfg_options=options)
    assert tool.main([SYNTHETIC_CONFIG, init_checkpoint, '--hidden-gt', str(wrong),
                                     '--cfg-options',
                                     *[f'{k}={v}' for k, v in options.items()]]) == 2
    assert 'error: hidden ground-truth file' in capsys.readouterr().err


@pytest.mark.parametrize('kind', ['empty', 'truncated', 'malicious'])
def test_refused_or_unreadable_checkpoint_is_one_line(synthetic_data, init_checkpoint, tmp_path, capsys,
                                                      kind):
    path = tmp_path / f'{kind}.pth'
    if kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'truncated':
        with open(init_checkpoint, 'rb') as f:
            path.write_bytes(f.read()[:4096])
    else:
        torch.save({'state_dict': {}, 'meta': {'hook': os.system}}, str(path))
    options = [f'{k}={v}' for k, v in data_options(synthetic_data).items()]
    assert tool.main([SYNTHETIC_CONFIG, str(path), '--cfg-options', *options]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err  # no traceback
    if kind == 'malicious':
        assert err.startswith(f'error: refused to load checkpoint {path} as unsafe: it references ')
        assert 'may be malicious' in err
    else:
        assert err.startswith(f'error: cannot load checkpoint {path}: ')
        assert 'does not fit the model' not in err
