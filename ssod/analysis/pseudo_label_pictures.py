"""Draw the teacher's pseudo boxes, coloured by filter stage, over the hidden ground truth of unlabeled
images.

    python tools/analysis/show_pseudo_labels.py CONFIG CHECKPOINT [--num-images 8] [--out DIR]
        [--min-score 0.3] [--scale S] [--unlabeled-json PATH] [--hidden-gt PATH] [--seed 0]
        [--device cpu] [--cfg-options k=v ...]

One PNG per image (``<out>/<image file stem>.png``): the image enlarged ``S`` times (nearest neighbour;
default: the smallest integer making the longer side >= 512 px), the teacher's boxes with score >=
``--min-score``, then the hidden ground-truth boxes (1 px, on top, so they stay visible), and a legend
strip below with the count of each kind. Colours (BGR) are :data:`COLOURS`:

* hidden GT: cyan;
* score <= ``pseudo_label_initial_score_thr``: grey, 1 px (what the filters throw away);
* score > ``pseudo_label_initial_score_thr``: yellow (SoftTeacher candidates);
* score > ``cls_pseudo_thr``: orange (classification pseudo boxes, uncertain for regression);
* and jitter uncertainty < ``reg_pseudo_thr``: magenta (also regression pseudo boxes).

The stages and the teacher run are those of :mod:`ssod.analysis.pseudo_label_inputs` (SoftTeacher's own
filter functions and jitter uncertainty; boxes in original-image pixels). Bad input raises
:class:`~ssod.analysis.pseudo_label_inputs.PseudoLabelInputError`.
"""
import math
import os
import os.path as osp
from typing import List, Optional

import cv2
import numpy as np

from .pseudo_label_inputs import (NUM_STAGES, STAGE_CLS, STAGE_DETECTED, STAGE_INITIAL, STAGE_REG,
                                  ImagePseudoLabels, PseudoLabelInputError, iterate_pseudo_labels,
                                  prepare)

GT = 'gt'
COLOURS = {  # BGR
    GT: (255, 255, 0),
    STAGE_DETECTED: (150, 150, 150),
    STAGE_INITIAL: (0, 230, 255),
    STAGE_CLS: (0, 140, 255),
    STAGE_REG: (255, 0, 255),
}
THICKNESS = {STAGE_DETECTED: 1, STAGE_INITIAL: 2, STAGE_CLS: 2, STAGE_REG: 2}
GT_THICKNESS = 1
LEGEND_ROW = 16  # pixels per legend line
MIN_WIDTH = 380  # pixels, so that the legend text fits
AUTO_LONG_SIDE = 512  # pixels


def auto_scale(height: int, width: int) -> int:
    """Smallest integer factor that makes the longer side at least :data:`AUTO_LONG_SIDE` pixels."""
    return max(1, math.ceil(AUTO_LONG_SIDE / max(height, width, 1)))


def canvas_box(box, scale: int):
    """Corner pixels of an xyxy box (pixel-edge coordinates) on the enlarged canvas."""
    x1, y1, x2, y2 = (float(v) * scale for v in box)
    return (int(round(x1)), int(round(y1))), (int(round(x2)) - 1, int(round(y2)) - 1)


def kind_labels(thr: dict) -> list:
    """``(colour, label)`` of each kind of box, in legend order: hidden GT, then the stages."""
    return [
        (COLOURS[GT], 'hidden GT'),
        (COLOURS[STAGE_DETECTED], f"score <= {thr['pseudo_label_initial_score_thr']:g}"),
        (COLOURS[STAGE_INITIAL], f"score > {thr['pseudo_label_initial_score_thr']:g} (initial)"),
        (COLOURS[STAGE_CLS], f"score > {thr['cls_pseudo_thr']:g} (cls_pseudo_thr)"),
        (COLOURS[STAGE_REG], f"+ uncertainty < {thr['reg_pseudo_thr']:g} (reg)"),
    ]


def legend_lines(image: ImagePseudoLabels, drawn: np.ndarray, thr: dict) -> list:
    """``(colour, text)`` per legend row, with the number of boxes drawn of each kind."""
    counts = [len(image.gt_bboxes)] + [int((image.stages[drawn] == s).sum()) for s in range(NUM_STAGES)]
    return [(colour, f'{label} ({count})') for (colour, label), count in zip(kind_labels(thr), counts)]


def enlarge(pixels: np.ndarray, scale: int) -> np.ndarray:
    """``pixels`` enlarged ``scale`` times, nearest neighbour (each pixel becomes a square)."""
    height, width = pixels.shape[:2]
    return cv2.resize(pixels, (width * scale, height * scale), interpolation=cv2.INTER_NEAREST)


def draw_boxes(pixels: np.ndarray, bboxes: np.ndarray, stages: np.ndarray, gt_bboxes: np.ndarray,
               scale: int) -> np.ndarray:
    """The image enlarged ``scale`` times with ``bboxes`` (image pixels, xyxy) in their stage colours,
    lower stages first so that the boxes that reach training lie on top (callers order boxes of one
    stage), then ``gt_bboxes`` on top of everything (1 px), so that they stay visible."""
    pixels = enlarge(pixels, scale)
    for i in sorted(range(len(bboxes)), key=lambda i: int(stages[i])):
        stage = int(stages[i])
        top_left, bottom_right = canvas_box(bboxes[i], scale)
        cv2.rectangle(pixels, top_left, bottom_right, COLOURS[stage], THICKNESS[stage])
    for box in gt_bboxes:
        top_left, bottom_right = canvas_box(box, scale)
        cv2.rectangle(pixels, top_left, bottom_right, COLOURS[GT], GT_THICKNESS)
    return pixels


def write_text(canvas: np.ndarray, x: int, y: int, text: str) -> None:
    """One legend row of white text whose top is at ``y`` pixels."""
    cv2.putText(canvas, text, (x, y + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
                cv2.LINE_AA)


def write_legend_row(canvas: np.ndarray, y: int, colour, text: str) -> None:
    """A colour swatch and its text, in the legend row whose top is at ``y`` pixels."""
    cv2.rectangle(canvas, (4, y + 2), (24, y + 12), colour, -1)
    write_text(canvas, 30, y, text)


def draw(image: ImagePseudoLabels, thr: dict, min_score: float = 0.3,
         scale: Optional[int] = None) -> np.ndarray:
    """The picture of one image (BGR uint8): enlarged image, boxes, legend strip below."""
    pixels = cv2.imread(image.img_path, cv2.IMREAD_COLOR)
    if pixels is None:
        raise PseudoLabelInputError(f'cannot read image {image.img_path}')
    scale = scale or auto_scale(*pixels.shape[:2])
    drawn = image.scores >= min_score
    # Within a stage, higher scores on top.
    order = sorted(np.flatnonzero(drawn), key=lambda i: image.scores[i])
    pixels = draw_boxes(pixels, image.bboxes[order], image.stages[order], image.gt_bboxes, scale)
    lines = legend_lines(image, drawn, thr)
    out_width = max(pixels.shape[1], MIN_WIDTH)
    canvas = np.zeros((pixels.shape[0] + LEGEND_ROW * (len(lines) + 1) + 4, out_width, 3), np.uint8)
    canvas[:pixels.shape[0], :pixels.shape[1]] = pixels
    y = pixels.shape[0] + 4
    write_text(canvas, 4, y, f'{osp.basename(image.img_path)} (id {image.img_id}), boxes with score >= '
                             f'{min_score:g}')
    for colour, text in lines:
        y += LEGEND_ROW
        write_legend_row(canvas, y, colour, text)
    return canvas


def show_pseudo_labels(config: str, checkpoint: str, out_dir: str, num_images: int = 8,
                       min_score: float = 0.3, scale: Optional[int] = None,
                       unlabeled_json: Optional[str] = None, hidden_gt: Optional[str] = None,
                       seed: int = 0, device: str = 'cpu', cfg_options: Optional[dict] = None,
                       print_fn=print) -> List[dict]:
    """Write the PNGs of the first ``num_images`` unlabeled images; returns, per image, ``png``,
    ``scale`` and the drawn ``image`` (:class:`ImagePseudoLabels`)."""
    if num_images < 1:
        raise PseudoLabelInputError(f'--num-images must be >= 1, got {num_images}')
    if scale is not None and scale < 1:
        raise PseudoLabelInputError(f'--scale must be a positive integer, got {scale}')
    setup = prepare(config, checkpoint, unlabeled_json, hidden_gt, cfg_options, device)
    thr = {k: float(setup.model.semi_train_cfg[k])
           for k in ('pseudo_label_initial_score_thr', 'cls_pseudo_thr', 'reg_pseudo_thr')}
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for image in iterate_pseudo_labels(setup.model, setup.dataset, num_images,
                                       seed=seed):
        picture = draw(image, thr, min_score, scale)
        png = osp.join(out_dir, osp.splitext(osp.basename(image.img_path))[0] + '.png')
        cv2.imwrite(png, picture)
        used_scale = scale or auto_scale(*image.ori_shape)
        written.append(dict(png=png, scale=used_scale, image=image))
        stages = np.bincount(image.stages, minlength=NUM_STAGES).tolist()
        print_fn(f'{png}: {len(image.gt_bboxes)} GT boxes, teacher boxes per stage '
                 f'(detected/initial/cls/reg) {stages}')
    return written
