"""Tests of ssod/analysis/pseudo_label_pictures.py and tools/analysis/show_pseudo_labels.py:
colours, GT on top, sizes, files, bad input."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from ssod.analysis import pseudo_label_pictures as show_pseudo_labels
from ssod.analysis.pseudo_label_inputs import (STAGE_CLS, STAGE_DETECTED, STAGE_INITIAL, STAGE_REG,
                                               ImagePseudoLabels, PseudoLabelInputError)
from ssod.analysis.pseudo_label_pictures import COLOURS, GT
from tests.scripts import load_script

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
tool = load_script('tools/analysis/show_pseudo_labels.py')

SYNTHETIC_CONFIG = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                            'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')
THRESHOLDS = dict(pseudo_label_initial_score_thr=0.5, cls_pseudo_thr=0.9, reg_pseudo_thr=0.02)

pytestmark = pytest.mark.usefixtures('single_torch_thread')


def colour_at(pixels, x, y):
    return tuple(int(v) for v in pixels[y, x])


def test_each_stage_has_its_colour_and_gt_is_drawn_on_top(tmp_path):
    path = str(tmp_path / 'black.png')
    cv2.imwrite(path, np.zeros((40, 50, 3), np.uint8))
    boxes = [[2, 2, 10, 10], [12, 2, 20, 10], [22, 2, 30, 10], [32, 2, 40, 10], [2, 20, 10, 30]]
    image = ImagePseudoLabels(
        img_id=7, img_path=path, ori_shape=(40, 50), bboxes=np.asarray(boxes, np.float32),
        scores=np.asarray([0.4, 0.6, 0.95, 0.97, 0.1], np.float32), labels=np.zeros(5, np.int64),
        reg_uncertainty=np.asarray([np.inf, 0.05, 0.05, 0.01, np.inf], np.float32),
        stages=np.asarray([STAGE_DETECTED, STAGE_INITIAL, STAGE_CLS, STAGE_REG, STAGE_DETECTED]),
        # The GT box shares its left edge with the 'reg' box: GT must be the visible colour there.
        gt_bboxes=np.asarray([[32, 2, 48, 18]], np.float32), gt_labels=np.zeros(1, np.int64))
    picture = show_pseudo_labels.draw(image, THRESHOLDS, min_score=0.3, scale=4)
    # 50 x 40 px at scale 4 = 200 x 160, widened to the legend's 380 px, legend of 6 rows below.
    assert picture.shape == (160 + 16 * 6 + 4, 380, 3)
    for box, stage in zip(boxes[:4], (STAGE_DETECTED, STAGE_INITIAL, STAGE_CLS)):
        x1, y1 = box[0] * 4, box[1] * 4
        assert colour_at(picture, x1 + 8, y1) == COLOURS[stage]  # top edge
    x1, y1, x2, y2 = (v * 4 for v in (32, 2, 40, 10))
    assert colour_at(picture, x1 + 8, y2 - 1) == COLOURS[STAGE_REG]  # bottom edge: reg box only
    assert colour_at(picture, x1, y1 + 8) == COLOURS[GT]  # shared left edge: GT on top
    assert colour_at(picture, 48 * 4 - 1, 12 * 4) == COLOURS[GT]  # GT right edge
    # The score 0.1 box is below --min-score: not drawn, its area stays black.
    assert colour_at(picture, 2 * 4, 25 * 4) == (0, 0, 0)
    assert colour_at(picture, 5 * 4, 5 * 4) == (0, 0, 0)  # inside a box: the image itself
    # Legend swatches in the order GT, detected, initial, cls, reg.
    for row, key in enumerate((GT, STAGE_DETECTED, STAGE_INITIAL, STAGE_CLS, STAGE_REG)):
        assert colour_at(picture, 14, 160 + 4 + 16 * (row + 1) + 7) == COLOURS[key]
    lines = show_pseudo_labels.legend_lines(image, image.scores >= 0.3, THRESHOLDS)
    assert [text for _, text in lines] == [
        'hidden GT (1)', 'score <= 0.5 (1)', 'score > 0.5 (initial) (1)',
        'score > 0.9 (cls_pseudo_thr) (1)', '+ uncertainty < 0.02 (reg) (1)']


def test_pngs_of_synthetic_unlabeled_images_with_a_checkpoint(synthetic_data, init_checkpoint,
                                                              tmp_path):
    out = str(tmp_path / 'pictures')
    said = []
    written = show_pseudo_labels.show_pseudo_labels(
        SYNTHETIC_CONFIG, init_checkpoint, out, num_images=3, min_score=0.05, print_fn=said.append,
        cfg_options={'train_dataloader.dataset.datasets.1.data_root': synthetic_data + '/'})
    assert len(written) == 3 == len(said)
    with open(osp.join(synthetic_data, 'annotations', 'unlabeled.json')) as f:
        unlabeled = json.load(f)['images']
    with open(osp.join(synthetic_data, 'annotations', 'unlabeled-hidden-gt.json')) as f:
        hidden = json.load(f)
    expected_names = sorted(osp.splitext(img['file_name'])[0] + '.png' for img in unlabeled[:3])
    assert sorted(osp.basename(w['png']) for w in written) == expected_names
    for entry in written:
        picture = cv2.imread(entry['png'])
        assert entry['scale'] == 8  # 64 px images -> 512 px
        assert picture.shape == (64 * 8 + 16 * 6 + 4, 64 * 8, 3)
        image = entry['image']
        anns = [a for a in hidden['annotations'] if a['image_id'] == image.img_id]
        assert len(anns) == len(image.gt_bboxes) > 0
        for ann in anns:
            x, y, w, h = ann['bbox']
            # Top-left corner and the middle of the top and left edges, at scale 8.
            for px, py in ((x, y), (x + w / 2, y), (x, y + h / 2)):
                assert colour_at(picture, int(round(px * 8)), int(round(py * 8))) == COLOURS[GT]
        # Stages are consistent with the thresholds of the config.
        assert np.all((image.stages >= STAGE_INITIAL) == (image.scores > 0.5))
        assert np.all((image.stages >= STAGE_CLS) == (image.scores > 0.9))


def test_bad_input_is_a_clear_error(synthetic_data, init_checkpoint, tmp_path, capsys):
    options = {'train_dataloader.dataset.datasets.1.data_root': synthetic_data + '/'}
    with pytest.raises(PseudoLabelInputError, match='hidden ground-truth file .* does not exist'):
        show_pseudo_labels.show_pseudo_labels(SYNTHETIC_CONFIG, init_checkpoint, str(tmp_path / 'o'),
                                              hidden_gt=str(tmp_path / 'none.json'),
                                              cfg_options=options)
    with pytest.raises(PseudoLabelInputError, match='--num-images must be >= 1'):
        show_pseudo_labels.show_pseudo_labels(SYNTHETIC_CONFIG, init_checkpoint, str(tmp_path / 'o'),
                                              num_images=0)
    code = tool.main([str(tmp_path / 'no_config.py'), init_checkpoint])
    assert code == 2 and 'config file' in capsys.readouterr().err
    assert not (tmp_path / 'o').exists()
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    code = tool.main([SYNTHETIC_CONFIG, str(empty), '--out', str(tmp_path / 'o'), '--cfg-options',
                      *[f'{k}={v}' for k, v in options.items()]])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f'error: cannot load checkpoint {empty}: it is empty')
    assert len(err.splitlines()) == 1  # no traceback
