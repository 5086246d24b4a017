"""Threshold sweep of the teacher's pseudo-labels against hidden ground truth, to choose
``cls_pseudo_thr``.

    python tools/analysis/pseudo_label_report.py CONFIG CHECKPOINT [--thresholds 0.3 0.4 ...]
        [--unlabeled-json PATH] [--hidden-gt PATH] [--num-images N] [--format markdown|plain]
        [--csv PATH] [--json PATH] [--batch-size 4] [--seed 0] [--device cpu] [--cfg-options k=v ...]

For every score threshold ``t`` the pseudo-labels are the teacher's detections with ``score > t``
(strictly greater, as the training filters), matched to the hidden ground truth at IoU 0.5, class-aware,
greedily by score (:mod:`ssod.evaluation.pseudo_label_quality`, the same matching as the online
metric). Counts are pooled over all images before dividing, overall and per class:

* ``precision = TP / #pseudo boxes`` -- 1 - precision is "how many pseudo-labels are wrong even above
  the threshold" (wrong class, misplaced, duplicate, or no object);
* ``recall = TP / #GT boxes`` -- the share of real objects that get a pseudo-label.

Precision is undefined (shown ``-``, ``null`` in JSON) when no box passes a threshold; recall when a
class has no GT box. The rows at the config's ``pseudo_label_initial_score_thr`` and ``cls_pseudo_thr``
(if in the sweep) are marked. Also printed: the precision/recall of SoftTeacher's regression pseudo
boxes (score > ``cls_pseudo_thr`` and jitter uncertainty < ``reg_pseudo_thr``).

Which model, which images, how the teacher runs: :mod:`ssod.analysis.pseudo_label_inputs` (the unlabeled
set of the config with its test pipeline; plain detector configs and checkpoints work too). Bad input
(missing hidden-GT file, image ids that do not match the unlabeled set, ...) raises
:class:`~ssod.analysis.pseudo_label_inputs.PseudoLabelInputError`; the tool prints ``error: ...``
(exit 2).
"""
import csv
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence

from ssod.evaluation.pseudo_label_quality import DEFAULT_IOU_THR, MatchCounts, count_matches_per_class
from .pseudo_label_inputs import (STAGE_REG, ImagePseudoLabels, PseudoLabelInputError,
                                  iterate_pseudo_labels, prepare)

DEFAULT_THRESHOLDS = tuple(round(0.3 + 0.05 * i, 2) for i in range(14))  # 0.3, 0.35, ..., 0.95
ALL = 'all'


def sweep(images: Iterable[ImagePseudoLabels], thresholds: Sequence[float], classes: Sequence[str],
          iou_thr: float = DEFAULT_IOU_THR) -> Dict[float, Dict[str, MatchCounts]]:
    """``{threshold: {'all' | class name: MatchCounts}}`` pooled over ``images``.

    Only ``bboxes``, ``scores``, ``labels``, ``gt_bboxes``, ``gt_labels`` of each image are read."""
    indices = list(range(len(classes)))
    totals = OrderedDict((float(t), OrderedDict((name, MatchCounts()) for name in (ALL, *classes)))
                         for t in thresholds)
    for image in images:
        for t, per_name in totals.items():
            keep = image.scores > t
            counts = count_matches_per_class(image.bboxes[keep], image.labels[keep], image.gt_bboxes,
                                             image.gt_labels, indices, pred_scores=image.scores[keep],
                                             iou_thr=iou_thr)
            for index, count in counts.items():
                per_name[classes[index]] = per_name[classes[index]] + count
                per_name[ALL] = per_name[ALL] + count
    return totals


def regression_counts(images: Iterable[ImagePseudoLabels], num_classes: int,
                      iou_thr: float = DEFAULT_IOU_THR) -> MatchCounts:
    """Counts of SoftTeacher's regression pseudo boxes (stage ``STAGE_REG``), all classes pooled."""
    total = MatchCounts()
    for image in images:
        keep = image.stages >= STAGE_REG
        counts = count_matches_per_class(image.bboxes[keep], image.labels[keep], image.gt_bboxes,
                                         image.gt_labels, list(range(num_classes)),
                                         pred_scores=image.scores[keep], iou_thr=iou_thr)
        for count in counts.values():
            total = total + count
    return total


def rows(table: Dict[float, Dict[str, MatchCounts]]) -> List[dict]:
    """Flat rows (class-major: all thresholds of 'all', then of each class) for tables, CSV and JSON."""
    names = list(next(iter(table.values())).keys()) if table else []
    out = []
    for name in names:
        for t, per_name in table.items():
            c = per_name[name]
            out.append(OrderedDict(
                threshold=t, cls=name, pseudo_boxes=c.num_predictions, true_positives=c.true_positives,
                false_positives=c.num_predictions - c.true_positives, gt_boxes=c.num_ground_truths,
                precision=c.precision, recall=c.recall))
    return out


def _ratio(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.3f}'


def format_table(table_rows: Sequence[dict], fmt: str = 'markdown',
                 marks: Optional[Dict[float, str]] = None) -> str:
    """The rows as a markdown or plain-text table; ``marks`` annotate thresholds (e.g. with
    'cls_pseudo_thr')."""
    marks = marks or {}
    header = ['threshold', 'class', 'pseudo boxes', 'TP', 'FP', 'GT boxes', 'precision', 'recall', '']
    body = [[f"{r['threshold']:g}", r['cls'], str(r['pseudo_boxes']), str(r['true_positives']),
             str(r['false_positives']), str(r['gt_boxes']), _ratio(r['precision']), _ratio(r['recall']),
             marks.get(r['threshold'], '')] for r in table_rows]
    if fmt == 'markdown':
        lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join(['---'] * len(header)) + '|']
        lines += ['| ' + ' | '.join(row) + ' |' for row in body]
        return '\n'.join(lines)
    if fmt == 'plain':
        widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
        return '\n'.join('  '.join(cell.rjust(w) for cell, w in zip(row, widths)).rstrip()
                         for row in [header] + body)
    raise ValueError(f'unknown table format {fmt!r}; use markdown or plain')


def write_csv(path: str, table_rows: Sequence[dict]) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(table_rows[0].keys()))
        writer.writeheader()
        for row in table_rows:
            writer.writerow({k: '' if v is None else v for k, v in row.items()})


def parse_thresholds(values: Sequence[float]) -> List[float]:
    thresholds = sorted(set(float(v) for v in values))
    bad = [t for t in thresholds if not 0.0 <= t < 1.0]
    if bad:
        raise PseudoLabelInputError(f'--thresholds must be scores in [0, 1), got {bad}')
    return thresholds


def report(config: str, checkpoint: str, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
           unlabeled_json: Optional[str] = None, hidden_gt: Optional[str] = None,
           num_images: Optional[int] = None, batch_size: int = 4, seed: int = 0, device: str = 'cpu',
           cfg_options: Optional[dict] = None) -> dict:
    """Run the teacher and sweep; returns ``{'rows', 'regression', 'semi_train_cfg', 'num_images',
    'classes'}``."""
    thresholds = parse_thresholds(thresholds)
    setup = prepare(config, checkpoint, unlabeled_json, hidden_gt, cfg_options, device)
    images = list(iterate_pseudo_labels(setup.model, setup.dataset, num_images,
                                        batch_size, seed))
    table = sweep(images, thresholds, setup.classes)
    semi_cfg = setup.model.semi_train_cfg
    reg = regression_counts(images, len(setup.classes))
    return dict(
        rows=rows(table), classes=list(setup.classes), num_images=len(images),
        semi_train_cfg={k: float(semi_cfg[k]) for k in ('pseudo_label_initial_score_thr',
                                                         'cls_pseudo_thr', 'reg_pseudo_thr')},
        regression=dict(pseudo_boxes=reg.num_predictions, true_positives=reg.true_positives,
                        gt_boxes=reg.num_ground_truths, precision=reg.precision, recall=reg.recall),
        unlabeled=setup.unlabeled_path, hidden_gt=setup.hidden_gt_path)


def render(result: dict, fmt: str = 'markdown') -> str:
    """The printed report: header, table (class rows only with more than one class), regression line."""
    semi = result['semi_train_cfg']
    marks = {}
    for key in ('pseudo_label_initial_score_thr', 'cls_pseudo_thr'):
        marks[semi[key]] = (marks.get(semi[key], '') + ' ' + key).strip()
    reg = result['regression']
    shown = result['rows']
    if len(result['classes']) == 1:  # the class rows would repeat the 'all' rows
        shown = [r for r in shown if r['cls'] == ALL]
    lines = [
        f"Pseudo-label quality on {result['num_images']} unlabeled image(s) of {result['unlabeled']}, "
        f"classes {', '.join(result['classes'])}",
        f"(hidden GT {result['hidden_gt']}; match: IoU >= {DEFAULT_IOU_THR}, class-aware, greedy by "
        f'score; pseudo boxes: score > threshold)', '',
        format_table(shown, fmt, marks), '',
        f"Regression pseudo boxes (score > {semi['cls_pseudo_thr']}, jitter uncertainty < "
        f"{semi['reg_pseudo_thr']}): {reg['pseudo_boxes']} boxes, {reg['true_positives']} TP, precision "
        f"{_ratio(reg['precision'])}, recall {_ratio(reg['recall'])}"]
    return '\n'.join(lines)


def write_json(path: str, result: dict) -> None:
    """The full result of :func:`report` as JSON (folders created)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(result, f, indent=1)
