"""Pure tensor helpers for pseudo-labels: filter stages, box jitter, jitter uncertainty, view projection.

Conventions (all functions):
* boxes are ``(n, 4)`` float tensors ``(x1, y1, x2, y2)`` in **pixels** of one image view;
* a *homography* is a ``3 x 3`` matrix mapping pixel coordinates of the original image to pixel
  coordinates of a view, as mmdet's geometric transforms record it in ``results['homography_matrix']``
  (each transform left-multiplies its own matrix, so ``H_view = H_last @ ... @ H_first``);
* filters return a boolean *keep mask* rather than filtered boxes, so that any per-box field
  (scores, labels, uncertainties) can be indexed with the same mask and stays aligned.

Nothing here touches models or data samples; the detectors in :mod:`ssod.models.detectors` compose them.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmdet.structures.bbox import bbox_project
from torch import Tensor

Shape = Sequence[int]  # (height, width, ...) in pixels, as mmdet's ``img_shape``


def box_wh(boxes: Tensor) -> Tensor:
    """Width and height ``(n, 2)`` of ``(n, 4)`` boxes, in pixels (may be negative for invalid boxes)."""
    return boxes[:, 2:4] - boxes[:, 0:2]


def size_keep_mask(boxes: Tensor, min_wh: Sequence[float]) -> Tensor:
    """``(n,)`` bool: boxes whose width >= ``min_wh[0]`` and height >= ``min_wh[1]`` pixels."""
    wh = box_wh(boxes)
    return (wh[:, 0] >= min_wh[0]) & (wh[:, 1] >= min_wh[1])


def score_and_size_keep_mask(boxes: Tensor, scores: Tensor, score_thr: float,
                             min_wh: Sequence[float] = (0.0, 0.0)) -> Tensor:
    """``(n,)`` bool: ``score > score_thr`` (strict, as both reference implementations) and the size test
    of :func:`size_keep_mask`."""
    return (scores > score_thr) & size_keep_mask(boxes, min_wh)


#: The filters a teacher box passes on its way to a pseudo-label. ``initial``: a candidate (SoftTeacher:
#: ``score > pseudo_label_initial_score_thr`` and w, h >= ``min_pseudo_bbox_wh``, see
#: :func:`initial_candidate_mask`; SemiBaseDetector: every teacher detection); ``rpn``: an RPN pseudo
#: box; ``cls``: an R-CNN classification (SemiBaseDetector: the only) pseudo box; ``reg``: ``cls`` and
#: certain enough to supervise regression (SoftTeacher). ``rpn`` and ``cls`` are subsets of
#: ``initial``, ``reg`` of ``cls``.
PSEUDO_LABEL_STAGES = ('initial', 'rpn', 'cls', 'reg')


def initial_candidate_mask(boxes: Tensor, scores: Tensor, semi_train_cfg) -> Tensor:
    """``(n,)`` bool: the teacher detections that become SoftTeacher candidates, ``score >
    pseudo_label_initial_score_thr`` and w, h >= ``min_pseudo_bbox_wh`` pixels."""
    return score_and_size_keep_mask(boxes, scores, semi_train_cfg.pseudo_label_initial_score_thr,
                                    semi_train_cfg.min_pseudo_bbox_wh)


def above_threshold(scores: Tensor, threshold: Union[float, Tensor],
                    labels: Optional[Tensor] = None) -> Tensor:
    """``(n,)`` bool: ``score > threshold`` (strict). ``threshold`` is a number (or a 0-d tensor) for
    every box, or a ``(num_classes,)`` tensor of per-class thresholds, read at each box's ``labels``."""
    if isinstance(threshold, Tensor) and threshold.dim() > 0:
        if labels is None:
            raise ValueError('per-class thresholds need the labels of the boxes')
        return scores > threshold[labels]
    return scores > threshold


#: Stages whose score threshold a caller can replace (``thresholds`` of :func:`stage_masks`).
THRESHOLD_KEYS = dict(rpn='rpn_pseudo_thr', cls='cls_pseudo_thr')


def stage_masks(scores: Tensor, semi_train_cfg, reg_uncertainty: Optional[Tensor] = None,
                initial: Optional[Tensor] = None, labels: Optional[Tensor] = None,
                thresholds: Optional[Dict[str, Union[float, Tensor]]] = None) -> Dict[str, Tensor]:
    """The one definition of the pseudo-label stages (:data:`PSEUDO_LABEL_STAGES`) of one image's boxes.

    Returns ``(n,)`` bool masks: ``initial`` (``initial`` if given, else every box: the caller's boxes
    are already the candidates), ``rpn`` = initial and ``score > rpn_pseudo_thr``, ``cls`` = initial and
    ``score > cls_pseudo_thr`` and, only when ``reg_uncertainty`` is given, ``reg`` = cls and
    ``reg_uncertainty < reg_pseudo_thr``. Thresholds are strict, as in both reference implementations.
    Used by the detectors during training, by the online quality logger and by the analysis tools.

    ``thresholds`` replaces the config's threshold of stage ``'rpn'`` and/or ``'cls'`` (keys of
    :data:`THRESHOLD_KEYS`): a number, or a ``(num_classes,)`` tensor of per-class thresholds read at
    each box's label (``labels``, ``(n,)``, is then required; :func:`above_threshold`), e.g. the adaptive
    thresholds of :class:`~ssod.models.class_thresholds.AdaptiveClassThresholds`. Without it the masks
    are those of the config's numbers.
    """
    thresholds = thresholds or {}
    unknown = sorted(set(thresholds) - set(THRESHOLD_KEYS))
    if unknown:
        raise ValueError(f'stage_masks: thresholds for unknown stage(s) {unknown}; '
                         f'known: {sorted(THRESHOLD_KEYS)}')
    initial = torch.ones_like(scores, dtype=torch.bool) if initial is None else initial
    stage_thr = {stage: thresholds[stage] if stage in thresholds else getattr(semi_train_cfg, key)
                 for stage, key in THRESHOLD_KEYS.items()}
    cls = initial & above_threshold(scores, stage_thr['cls'], labels)
    masks = dict(initial=initial, rpn=initial & above_threshold(scores, stage_thr['rpn'], labels), cls=cls)
    if reg_uncertainty is not None:
        masks['reg'] = cls & (reg_uncertainty < semi_train_cfg.reg_pseudo_thr)
    return masks


def fill_uncertainty(scores: Tensor, measured: Tensor, uncertainty: Tensor) -> Tensor:
    """``(n,)`` regression uncertainty of ``n`` boxes (``scores`` gives n, dtype and device): the
    ``uncertainty`` of the boxes in the ``measured`` mask (in order), ``inf`` for the others -- a box
    whose uncertainty was not measured never passes the ``reg`` stage."""
    filled = scores.new_full(scores.shape, float('inf'))
    filled[measured] = uncertainty
    return filled


def _coordinate_scale(boxes: Tensor) -> Tensor:
    """``(n, 4)`` scale per coordinate: ``(w, h, w, h)`` with w and h clamped to at least 1 pixel, so
    that tiny or degenerate boxes neither collapse the jitter nor blow up the relative uncertainty."""
    wh = box_wh(boxes).clamp(min=1.0)
    return wh.repeat(1, 2)


def jitter_boxes(boxes: Tensor, times: int, scale: float,
                 generator: Optional[torch.Generator] = None) -> Tensor:
    """``times`` randomly shifted copies of every box, shape ``(times, n, 4)``.

    Each coordinate gets independent Gaussian noise with standard deviation ``scale * w`` (x1, x2) or
    ``scale * h`` (y1, y2), w/h clamped to >= 1 px -- the box jittering of Soft Teacher (paper sec. 3.4;
    microsoft/SoftTeacher ``aug_box``, jitter_scale 0.06, 10 times). ``generator`` makes it reproducible.
    """
    noise = torch.randn((times, boxes.shape[0], 4), generator=generator, dtype=boxes.dtype,
                        device='cpu' if generator is not None else boxes.device).to(boxes.device)
    return boxes[None] + noise * (scale * _coordinate_scale(boxes))[None]


UNCERTAINTY_SCALES = ('refined_mean', 'candidate')


def box_uncertainty(refined: Tensor, boxes: Tensor, scale_by: str = 'refined_mean') -> Tensor:
    """Regression uncertainty ``(n,)`` of ``boxes`` from their refined jittered copies ``(times, n, 4)``.

    For every box: the (unbiased) standard deviation over the ``times`` refined copies of each
    coordinate, divided by a width (x1, x2) or height (y1, y2) in pixels (clamped to >= 1), then averaged
    over the 4 coordinates. Dimensionless; Soft Teacher keeps a box for regression when this is below
    ``reg_pseudo_thr`` (0.02).

    ``scale_by``: whose width/height divides the spread. ``'refined_mean'`` (default): the mean of the
    refined copies, as the Soft Teacher reference code and MMDetection compute it. ``'candidate'``: the
    candidate box itself. The two are not interchangeable: when the head moves the jittered copies, the
    mean refined box differs from the candidate (measured on tree-crown pseudo-labels: a median 2-5 %,
    up to 65 %), and boxes near 0.02 land on different sides of the threshold.
    """
    if scale_by not in UNCERTAINTY_SCALES:
        raise ValueError(f'box_uncertainty: scale_by must be one of {UNCERTAINTY_SCALES}, got {scale_by!r}')
    if refined.shape[1] == 0:
        return refined.new_zeros((0,))
    if refined.shape[0] < 2:
        raise ValueError(f'box_uncertainty needs >= 2 refined copies per box, got {refined.shape[0]}')
    std = refined.std(dim=0)
    reference = refined.mean(dim=0) if scale_by == 'refined_mean' else boxes
    return (std / _coordinate_scale(reference)).mean(dim=1)


def as_homography(matrix: Union[Tensor, np.ndarray, Sequence], device=None) -> Tensor:
    """A ``3 x 3`` float64 tensor from a numpy array / tensor / nested list (float64 keeps inverses
    and products of several transforms accurate to far below a pixel)."""
    h = torch.as_tensor(np.asarray(matrix) if not isinstance(matrix, Tensor) else matrix,
                        dtype=torch.float64, device=device)
    if h.shape != (3, 3):
        raise ValueError(f'a homography must be 3 x 3, got shape {tuple(h.shape)}')
    return h


def view_to_view_matrix(h_source: Tensor, h_target: Tensor) -> Tensor:
    """Matrix mapping pixels of the source view to the target view: ``H_target @ inv(H_source)``.

    Teacher -> student is ``view_to_view_matrix(H_teacher, H_student)``; student -> teacher the reverse.
    """
    return as_homography(h_target) @ torch.linalg.inv(as_homography(h_source))


def project_boxes(boxes: Tensor, homography: Tensor, target_shape: Shape,
                  min_wh: Sequence[float] = (1e-2, 1e-2)) -> Tuple[Tensor, Tensor]:
    """Move boxes into another view: returns ``(projected, keep)``.

    The 4 corners of each box are mapped through ``homography`` (3 x 3, source pixels -> target pixels),
    the axis-aligned hull is taken (``mmdet.structures.bbox.bbox_project``), and the result is clipped to
    ``target_shape[:2]`` = (height, width) in pixels. ``keep`` (bool, ``(n,)``) is False for boxes whose
    clipped width or height is below ``min_wh`` -- boxes that left the view, or nearly so -- so the
    caller never hands degenerate boxes to a loss. ``projected`` has all ``n`` rows, in ``boxes.dtype``.
    """
    if boxes.shape[0] == 0:
        return boxes.new_zeros((0, 4)), boxes.new_zeros((0,), dtype=torch.bool)
    matrix = as_homography(homography, device=boxes.device)
    projected = bbox_project(boxes.to(torch.float64), matrix, tuple(target_shape[:2])).to(boxes.dtype)
    return projected, size_keep_mask(projected, min_wh)
