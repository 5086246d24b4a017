"""The teacher's pseudo boxes in the two training views of unlabeled images: what the student is taught.

For a semi config and a checkpoint (model, data and hidden ground truth as
:mod:`ssod.analysis.pseudo_label_inputs` builds them, with the unlabeled dataset's own **training**
pipeline), per unlabeled image:

1. **Views.** The pipeline runs once, under a seed of its own (:func:`image_seed` of ``seed`` and the
   image id, so an image's views do not depend on which other images are drawn): ``unsup_teacher``
   (weak view) and ``unsup_student`` (strong view) come out packed, as in training. Each view's pixels
   are the packed ``uint8`` image (BGR, before normalisation); its ``homography_matrix`` maps pixels of
   the original image to the view; the transforms that changed it are recorded on the way
   (:mod:`ssod.analysis.transform_trace`).
2. **Teacher.** Detects on the weak view (the model's own preprocessing) and the stages come from the
   detector's functions and its ``semi_train_cfg`` thresholds
   (:func:`~ssod.analysis.pseudo_label_inputs.teacher_boxes_with_stages`; the jitter runs under the
   same per-image seed).
3. **Projection.** The detections go into the strong view through the detector's own
   ``pseudo_labels_to_student`` (``H_student @ inv(H_teacher)``, clipped to the strong view, boxes
   narrower or lower than ``min_pseudo_bbox_wh`` pixels dropped), as in a training iteration. Unlike
   training, every detection is projected, not only the candidates (stage >= initial).
4. **Hidden ground truth** (original frame) goes into each view through that view's homography with
   :func:`~ssod.models.pseudo_labels.project_boxes`, the function the projection uses.

All boxes are ``(n, 4)`` xyxy in pixels of their view.
"""
import contextlib
import random
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np
import torch

from ssod.datasets.hidden_gt import HIDDEN_GT_BBOXES, HIDDEN_GT_LABELS
from ssod.models.detectors.semi_base import UNSUP_STUDENT, UNSUP_TEACHER, SemiBaseDetector
from ssod.models.pseudo_labels import as_homography, project_boxes
from .pseudo_label_inputs import PseudoLabelInputError, PseudoLabelSetup, prepare, teacher_boxes_with_stages
from .transform_trace import APPLIED_TRANSFORMS, trace_transforms


@dataclass
class ViewBoxes:
    """One training view of an unlabeled image with the boxes in its pixels."""

    pixels: np.ndarray  # (h, w, 3) uint8 BGR: the packed image, before normalisation
    homography: np.ndarray  # (3, 3) float64: original-image pixels -> view pixels
    transforms: Optional[List[str]]  # what changed the view, in order; None if not recorded
    bboxes: np.ndarray  # (n, 4) float: teacher boxes (weak view: detected; strong: projected)
    scores: np.ndarray  # (n,)
    labels: np.ndarray  # (n,) int
    reg_uncertainty: np.ndarray  # (n,) dimensionless; inf where not computed
    stages: np.ndarray  # (n,) int, STAGE_*
    gt_bboxes: np.ndarray  # (m, 4) float: hidden ground truth projected into the view (kept ones)
    gt_labels: np.ndarray  # (m,) int

    @property
    def shape(self) -> Tuple[int, int]:
        """(height, width) in pixels."""
        return tuple(int(v) for v in self.pixels.shape[:2])


@dataclass
class ViewPseudoLabels:
    """The weak (teacher) and strong (student) views of one unlabeled image."""

    img_id: int
    img_path: str
    ori_shape: Tuple[int, int]  # (height, width) pixels
    seed: int  # the seed the pipeline and the jitter ran under (:func:`image_seed`)
    teacher: ViewBoxes
    student: ViewBoxes
    num_left_view: int  # teacher boxes that projection dropped (left the strong view, or nearly)


def image_seed(seed: int, img_id: int) -> int:
    """A 32-bit seed of its own for each (seed, image id) pair."""
    return int(np.random.SeedSequence([int(seed), int(img_id)]).generate_state(1)[0])


@contextlib.contextmanager
def seeded(seed: int):
    """Python's, numpy's and torch's global random generators seeded with ``seed`` within the block
    (the data transforms draw from numpy's, the box jitter from torch's); their states are restored
    afterwards."""
    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


def training_views(dataset, index: int, seed: int) -> dict:
    """``dataset[index]`` (a ``MultiBranch`` output: ``inputs`` and ``data_samples`` by branch) with the
    pipeline's random draws seeded by :func:`image_seed` of ``seed`` and the image's id."""
    img_id = dataset.get_data_info(index)['img_id']
    with seeded(image_seed(seed, img_id)):
        data = dataset[index]
    for branch in (UNSUP_TEACHER, UNSUP_STUDENT):
        if not isinstance(data.get('inputs'), dict) or data['inputs'].get(branch) is None:
            raise PseudoLabelInputError(
                f'the unlabeled training pipeline gives no {branch!r} view (a MultiBranch with '
                f'{UNSUP_TEACHER} and {UNSUP_STUDENT} pipelines, as in '
                f'configs/_base_/datasets/semi_tree_crowns.py)')
    if int(data['data_samples'][UNSUP_TEACHER].img_id) != int(img_id):
        raise PseudoLabelInputError(
            f'image id {img_id} ({dataset.get_data_info(index).get("img_path")}) could not be read and '
            f'the data set gave another image instead; check the images with tools/data/check_images.py')
    return data


def view_pixels(image: torch.Tensor) -> np.ndarray:
    """A packed ``(c, h, w)`` image tensor as an ``(h, w, 3)`` uint8 BGR array."""
    pixels = image.detach().cpu().permute(1, 2, 0).numpy()
    pixels = np.ascontiguousarray(pixels.astype(np.uint8))
    return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if pixels.shape[2] == 1 else pixels


def view_homography(sample) -> np.ndarray:
    """``homography_matrix`` of a packed view (original -> view pixels); the identity if no transform
    recorded one."""
    matrix = sample.metainfo.get('homography_matrix')
    return np.eye(3) if matrix is None else as_homography(matrix).numpy()


def project_hidden_gt(gt_bboxes: np.ndarray, gt_labels: np.ndarray, homography: np.ndarray,
                      view_shape, min_wh) -> Tuple[np.ndarray, np.ndarray]:
    """Hidden ground truth (original-image pixels) in a view: the boxes that
    :func:`~ssod.models.pseudo_labels.project_boxes` keeps, and their labels."""
    boxes = torch.as_tensor(np.asarray(gt_bboxes, dtype=np.float32).reshape(-1, 4))
    projected, keep = project_boxes(boxes, torch.as_tensor(homography), view_shape, min_wh)
    keep = keep.numpy()
    return projected.numpy()[keep], np.asarray(gt_labels, dtype=np.int64)[keep]


def _view_boxes(pixels, sample, instances, gt_bboxes, gt_labels, min_wh) -> ViewBoxes:
    homography = view_homography(sample)
    gt, gt_lab = project_hidden_gt(gt_bboxes, gt_labels, homography, sample.img_shape, min_wh)
    transforms = sample.metainfo.get(APPLIED_TRANSFORMS)
    return ViewBoxes(
        pixels=view_pixels(pixels), homography=homography,
        transforms=None if transforms is None else list(transforms),
        bboxes=instances.bboxes.detach().cpu().numpy().astype(np.float32).reshape(-1, 4),
        scores=instances.scores.detach().cpu().numpy(),
        labels=instances.labels.detach().cpu().numpy().astype(np.int64),
        reg_uncertainty=instances.reg_uncertainty.detach().cpu().numpy(),
        stages=instances.stages.detach().cpu().numpy(), gt_bboxes=gt, gt_labels=gt_lab)


@torch.no_grad()
def view_pseudo_labels(model: SemiBaseDetector, dataset, index: int, seed: int = 0) -> ViewPseudoLabels:
    """The two views of image ``index`` of ``dataset`` with the teacher's boxes (module doc)."""
    data = training_views(dataset, index, seed)
    weak_sample = data['data_samples'][UNSUP_TEACHER]
    strong_sample = data['data_samples'][UNSUP_STUDENT]
    batch = model.data_preprocessor(
        {'inputs': [data['inputs'][UNSUP_TEACHER]], 'data_samples': [weak_sample]}, False)
    this_seed = image_seed(seed, weak_sample.img_id)
    with seeded(this_seed):
        detections = teacher_boxes_with_stages(model, batch['inputs'], batch['data_samples'])
    projected = model.pseudo_labels_to_student(detections, batch['data_samples'], [strong_sample])
    info = dataset.get_data_info(index)
    gt_bboxes = np.asarray(info.get(HIDDEN_GT_BBOXES, np.zeros((0, 4))), dtype=np.float32).reshape(-1, 4)
    gt_labels = np.asarray(info.get(HIDDEN_GT_LABELS, np.zeros((0,))), dtype=np.int64)
    min_wh = model.semi_train_cfg.min_pseudo_bbox_wh
    return ViewPseudoLabels(
        img_id=int(weak_sample.img_id), img_path=weak_sample.img_path,
        ori_shape=tuple(int(v) for v in weak_sample.ori_shape[:2]), seed=this_seed,
        teacher=_view_boxes(data['inputs'][UNSUP_TEACHER], batch['data_samples'][0], detections[0],
                            gt_bboxes, gt_labels, min_wh),
        student=_view_boxes(data['inputs'][UNSUP_STUDENT], strong_sample, projected[0],
                            gt_bboxes, gt_labels, min_wh),
        num_left_view=len(detections[0]) - len(projected[0]))


def iterate_view_pseudo_labels(model: SemiBaseDetector, dataset, num_images: Optional[int] = None,
                               seed: int = 0) -> Iterator[ViewPseudoLabels]:
    """:func:`view_pseudo_labels` of the first ``num_images`` images of ``dataset`` (all when None)."""
    count = len(dataset) if num_images is None else min(int(num_images), len(dataset))
    for index in range(count):
        yield view_pseudo_labels(model, dataset, index, seed)


def prepare_views(config: str, checkpoint: str, unlabeled_json: Optional[str] = None,
                  hidden_gt: Optional[str] = None, cfg_options: Optional[dict] = None,
                  device: str = 'cpu') -> PseudoLabelSetup:
    """:func:`~ssod.analysis.pseudo_label_inputs.prepare` with the unlabeled training pipeline, its
    transforms instrumented to record what they did (:func:`trace_transforms`)."""
    setup = prepare(config, checkpoint, unlabeled_json, hidden_gt, cfg_options, device, pipeline='train')
    trace_transforms(setup.dataset.pipeline)
    return setup

