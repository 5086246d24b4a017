"""Pictures of what the student is taught: the teacher's pseudo boxes projected into the strong views.

    python tools/analysis/show_pseudo_labels.py CONFIG CHECKPOINT --views [--num-images 8] [--out DIR]
        [--min-score 0.3] [--scale S] [--seed 0] [--unlabeled-json PATH] [--hidden-gt PATH]
        [--device cpu] [--cfg-options k=v ...]

CONFIG must be a semi config (its unlabeled training pipeline makes the views); CHECKPOINT a semi or a
plain-detector checkpoint (loaded into the teacher). Views, teacher run, stages and projection:
:mod:`ssod.analysis.view_pseudo_labels`.

One PNG per image (``<out>/<image file stem>.png``), BGR:

* **left**, the weak view (what the teacher saw) with the teacher's boxes; **right**, after a white gap
  of :data:`GAP` pixels, the strong view (what the student learns on: after rescale, flips, RandAugment
  colour and geometric ops, erasing) with the same boxes projected into it. Both are the packed uint8
  pixels, enlarged ``S`` times (nearest neighbour; default: the smallest integer that makes the longer
  side of the larger view >= 512 px), top-aligned, black below the shorter one;
* boxes with score >= ``--min-score`` in the stage colours of
  :data:`~ssod.analysis.pseudo_label_pictures.COLOURS` (grey: not taught; with ``ignore_score_thr``
  those above it are ignore regions; yellow: candidates; orange: classification pseudo boxes; magenta:
  also regression pseudo boxes), the hidden ground truth projected into each view on top (cyan, 1 px);
* a legend strip below, :data:`~ssod.analysis.pseudo_label_pictures.LEGEND_ROW` pixels per row: a title
  (file, image id, the image's seed, the view sizes, how many drawn boxes left the student view), one
  row per kind of box with its count in each view, then the transforms that changed each view, in order
  (long rows wrap).

Size: width ``max(S * (w_weak + w_strong) + GAP, MIN_WIDTH)``, height ``S * max(h_weak, h_strong) + 4 +
LEGEND_ROW * len(legend_rows(...))`` (at least 8 rows). The same seed gives the same PNG bytes.
"""
import os
import os.path as osp
from typing import List, Optional

import cv2
import numpy as np

from .pseudo_label_inputs import NUM_STAGES, PseudoLabelInputError
from .pseudo_label_pictures import (LEGEND_ROW, MIN_WIDTH, auto_scale, draw_boxes, kind_labels,
                                    write_legend_row, write_text)
from .view_pseudo_labels import ViewBoxes, ViewPseudoLabels, iterate_view_pseudo_labels, prepare_views

GAP = 8  # pixels of white between the two views
GAP_COLOUR = (255, 255, 255)
TEXT_X = 30  # pixels: where the text of a legend row starts (after the swatch)
_FONT, _FONT_SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.38


def wrap(text: str, width: int) -> List[str]:
    """``text`` cut at spaces into pieces that fit ``width`` pixels in the legend font (a single word
    longer than that stays whole)."""
    lines, line = [], ''
    for word in text.split(' '):
        candidate = word if not line else f'{line} {word}'
        if line and cv2.getTextSize(candidate, _FONT, _FONT_SCALE, 1)[0][0] > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + [line]


def drawn_mask(view: ViewBoxes, min_score: float) -> np.ndarray:
    """``(n,)`` bool: the view's boxes that are drawn (score >= ``min_score``)."""
    return view.scores >= min_score


def _transforms_text(view: ViewBoxes) -> str:
    if view.transforms is None:
        return 'not recorded'
    return ', '.join(view.transforms) if view.transforms else 'no transform changed it'


def legend_rows(image: ViewPseudoLabels, thr: dict, min_score: float, scale: int, width: int) -> list:
    """``(colour or None, text, x)`` per legend row of a picture ``width`` pixels wide (module doc):
    rows with a colour get its swatch, their text starts ``x`` pixels from the left."""
    teacher, student = image.teacher, image.student
    drawn_t, drawn_s = drawn_mask(teacher, min_score), drawn_mask(student, min_score)
    (h_t, w_t), (h_s, w_s) = teacher.shape, student.shape
    title = (f'{osp.basename(image.img_path)} (id {image.img_id}), seed {image.seed}: left teacher (weak) '
             f'view {w_t}x{h_t} px, right student (strong) view {w_s}x{h_s} px, x{scale}; boxes with '
             f'score >= {min_score:g}, {int(drawn_t.sum() - drawn_s.sum())} of them left the student view')
    counts = [(len(teacher.gt_bboxes), len(student.gt_bboxes))] + [
        (int((teacher.stages[drawn_t] == s).sum()), int((student.stages[drawn_s] == s).sum()))
        for s in range(NUM_STAGES)]
    kinds = [(colour, f'{label}: teacher view {a}, student view {b}')
             for (colour, label), (a, b) in zip(kind_labels(thr), counts)]
    views = [(None, f'teacher view: {_transforms_text(teacher)}'),
             (None, f'student view: {_transforms_text(student)}')]
    rows = []
    for colour, text in [(None, title)] + kinds + views:
        x = TEXT_X if colour is not None else 4
        for i, piece in enumerate(wrap(text, width - x - 4)):
            rows.append((colour if i == 0 else None, piece, x))
    return rows


def _panel(view: ViewBoxes, min_score: float, scale: int) -> np.ndarray:
    drawn = np.flatnonzero(drawn_mask(view, min_score))
    order = drawn[np.argsort(view.scores[drawn], kind='stable')]  # within a stage, higher scores on top
    return draw_boxes(view.pixels, view.bboxes[order], view.stages[order], view.gt_bboxes, scale)


def picture_scale(image: ViewPseudoLabels) -> int:
    """Default enlargement: the longer side of the larger view becomes >= 512 px."""
    (h_t, w_t), (h_s, w_s) = image.teacher.shape, image.student.shape
    return auto_scale(max(h_t, h_s), max(w_t, w_s))


def draw_views(image: ViewPseudoLabels, thr: dict, min_score: float = 0.3,
               scale: Optional[int] = None) -> np.ndarray:
    """The picture of one image (BGR uint8, layout and size in the module doc)."""
    scale = scale or picture_scale(image)
    left, right = _panel(image.teacher, min_score, scale), _panel(image.student, min_score, scale)
    panels_h = max(left.shape[0], right.shape[0])
    width = max(left.shape[1] + GAP + right.shape[1], MIN_WIDTH)
    rows = legend_rows(image, thr, min_score, scale, width)
    canvas = np.zeros((panels_h + 4 + LEGEND_ROW * len(rows), width, 3), np.uint8)
    canvas[:left.shape[0], :left.shape[1]] = left
    canvas[:panels_h, left.shape[1]:left.shape[1] + GAP] = GAP_COLOUR
    right_x = left.shape[1] + GAP
    canvas[:right.shape[0], right_x:right_x + right.shape[1]] = right
    y = panels_h + 4
    for colour, text, x in rows:
        if colour is None:
            write_text(canvas, x, y, text)
        else:
            write_legend_row(canvas, y, colour, text)
        y += LEGEND_ROW
    return canvas


def _stage_counts(view: ViewBoxes) -> list:
    return np.bincount(view.stages.astype(np.int64), minlength=NUM_STAGES).tolist()


def show_strong_view_pictures(config: str, checkpoint: str, out_dir: str, num_images: int = 8,
                              min_score: float = 0.3, scale: Optional[int] = None,
                              unlabeled_json: Optional[str] = None, hidden_gt: Optional[str] = None,
                              seed: int = 0, device: str = 'cpu', cfg_options: Optional[dict] = None,
                              print_fn=print) -> List[dict]:
    """Write the PNGs of the first ``num_images`` unlabeled images; returns, per image, ``png``,
    ``scale`` and the drawn ``image`` (:class:`~ssod.analysis.view_pseudo_labels.ViewPseudoLabels`)."""
    if num_images < 1:
        raise PseudoLabelInputError(f'--num-images must be >= 1, got {num_images}')
    if scale is not None and scale < 1:
        raise PseudoLabelInputError(f'--scale must be a positive integer, got {scale}')
    setup = prepare_views(config, checkpoint, unlabeled_json, hidden_gt, cfg_options, device)
    thr = {k: float(setup.model.semi_train_cfg[k])
           for k in ('pseudo_label_initial_score_thr', 'cls_pseudo_thr', 'reg_pseudo_thr')}
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for image in iterate_view_pseudo_labels(setup.model, setup.dataset, num_images, seed):
        used_scale = scale or picture_scale(image)
        png = osp.join(out_dir, osp.splitext(osp.basename(image.img_path))[0] + '.png')
        cv2.imwrite(png, draw_views(image, thr, min_score, used_scale))
        written.append(dict(png=png, scale=used_scale, image=image))
        print_fn(f'{png}: student view [{_transforms_text(image.student)}]; teacher boxes per stage '
                 f'(detected/initial/cls/reg) {_stage_counts(image.teacher)} in the teacher view, '
                 f'{_stage_counts(image.student)} in the student view; hidden GT '
                 f'{len(image.teacher.gt_bboxes)} / {len(image.student.gt_bboxes)}')
    return written
