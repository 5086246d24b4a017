"""The detector that writes pseudo-labels, and its predictions on one image file.

* **Model.** ``cfg.model`` is built through ``ssod.registry.MODELS`` and the checkpoint loaded with
  mmengine's ``load_checkpoint`` (strict). For a teacher-student model (``SemiBaseDetector`` /
  ``SoftTeacher``: ``model.detector`` in the config, ``teacher.*`` / ``student.*`` in the checkpoint)
  the chosen half is used on its own; a plain detector's checkpoint loads into both halves
  (``SemiBaseDetector._load_from_state_dict``).
* **Score floor.** When the detector's own test-time ``score_thr`` (``test_cfg.rcnn.score_thr`` of a
  two-stage detector, ``test_cfg.score_thr`` of a one-stage one) is above the floor, it is lowered to
  the floor so that every detection the floor asks for exists. Boxes above the old threshold do not
  change: NMS is per class, a lower-scored box never removes a higher one, and ``max_per_img`` keeps
  the highest scores.
* **Prediction.** One image at a time (no batch padding, so a box does not depend on which images share
  a batch or a rank), through the config's test pipeline (``test_dataloader.dataset.pipeline``) and
  ``test_step`` in eval mode without gradients; boxes come back in the original image's pixels.
* **Threads.** On CPU, inference runs with one torch thread per process
  (:func:`one_thread_on_cpu`): the float sums of convolutions depend on how many threads share them
  (measured: boxes moved by up to 5e-5 px between 1 and 2 threads), so a fixed count is what makes
  the output independent of the number of ranks. Parallelism on CPU comes from ranks instead
  (``torchrun --nproc_per_node N``).
* **Flip** (test-time augmentation): the pipeline's loader reads the file once; the rest of the pipeline
  runs on the image and on its left-right mirror, and :func:`ssod.models.flip_merge.merge_flip_detections`
  merges the two sets with the detector's own NMS IoU threshold (default 0.5) and ``max_per_img``.
"""
import copy
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import numpy as np
import torch
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose
from mmengine.runner import load_checkpoint

from ssod.compat.checkpoint_safety import CHECKPOINT_LOAD_ERRORS
from ssod.datasets.image_check import BadImageError
from ssod.models.flip_merge import merge_flip_detections
from ssod.registry import MODELS
from .evaluate import is_teacher_student_config
from .pseudo_label_images import PseudoLabelError

MODEL_CHOICES = ('teacher', 'student')
DEFAULT_NMS_IOU = 0.5
Prediction = Tuple[Tuple[int, int], np.ndarray, np.ndarray, np.ndarray]  # (h, w), xyxy, scores, labels


def choose_model(cfg: Config, choice: Optional[str]) -> Optional[str]:
    """'teacher' / 'student' for a teacher-student config (default: ``semi_test_cfg.predict_on``,
    else 'teacher'); ``None`` for a plain detector, where a choice is an error."""
    if not is_teacher_student_config(cfg):
        if choice is not None:
            raise PseudoLabelError(f'--model {choice} needs a teacher-student config (model.detector); '
                                   f'{cfg.model.get("type")} is a plain detector: leave --model out.')
        return None
    if choice is None:
        choice = (cfg.model.get('semi_test_cfg') or {}).get('predict_on', 'teacher')
    if choice not in MODEL_CHOICES:
        raise PseudoLabelError(f'--model {choice!r}: choose one of {", ".join(MODEL_CHOICES)}')
    return choice


def postprocess_cfg(cfg: Config) -> ConfigDict:
    """The test-time post-processing settings of the detector's boxes (``score_thr``, ``nms``,
    ``max_per_img``): ``test_cfg.rcnn`` of a two-stage detector, else ``test_cfg``."""
    detector = cfg.model.detector if is_teacher_student_config(cfg) else cfg.model
    test_cfg = detector.get('test_cfg')
    if test_cfg is None:
        return ConfigDict()
    return test_cfg.rcnn if test_cfg.get('rcnn') is not None else test_cfg


def lower_score_threshold(cfg: Config, score_floor: float) -> None:
    """Lower the detector's ``score_thr`` to ``score_floor`` when it is higher (module docstring)."""
    post = postprocess_cfg(cfg)
    if post.get('score_thr') is not None and post.score_thr > score_floor:
        post.score_thr = score_floor


def build_detector(cfg: Config, checkpoint: str, choice: Optional[str], device: str) -> torch.nn.Module:
    """The detector of ``cfg`` with ``checkpoint`` loaded (the ``choice`` half of a teacher-student
    model), in eval mode on ``device``."""
    model = MODELS.build(copy.deepcopy(cfg.model))
    try:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    except CHECKPOINT_LOAD_ERRORS:  # refused or damaged file: its message says what to do
        raise
    except (RuntimeError, KeyError) as error:
        raise PseudoLabelError(f'checkpoint {checkpoint} does not fit the model of the config: '
                               f'{str(error)[:500]}') from None
    if choice is not None:
        model = getattr(model, choice)
    return model.to(device).eval()


@contextmanager
def one_thread_on_cpu(device: str) -> Iterator[None]:
    """torch runs single-threaded inside (on CPU; a GPU device is left alone), as before after."""
    previous = torch.get_num_threads()
    if device == 'cpu':
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Predictor:
    """Detections of one image file (see the module docstring); ``flip`` adds the mirror's."""

    def __init__(self, detector: torch.nn.Module, cfg: Config, flip: bool = False) -> None:
        try:
            pipeline = get_test_pipeline_cfg(cfg)
        except (RuntimeError, AttributeError, KeyError):
            raise PseudoLabelError('the config has no test pipeline (test_dataloader.dataset.pipeline)') \
                from None
        self.transforms = Compose(copy.deepcopy(pipeline)).transforms
        self.detector = detector
        self.flip = flip
        post = postprocess_cfg(cfg)
        self.iou_threshold = float((post.get('nms') or {}).get('iou_threshold', DEFAULT_NMS_IOU))
        self.max_per_img = post.get('max_per_img')

    def _load(self, path: str, image_id: int) -> Tuple[dict, list]:
        """The results after the pipeline's loader (the first transform that yields ``img``) and the
        transforms still to run."""
        results = dict(img_path=path, img_id=image_id)
        for index, transform in enumerate(self.transforms):
            try:
                results = transform(results)
            except BadImageError as error:
                raise PseudoLabelError(f'image {error.path} (image id {image_id}) {error.reason}: fix or '
                                       f'remove it, then run again (finished images are kept)') from None
            except (OSError, ValueError, AssertionError) as error:
                raise PseudoLabelError(f'image {path} (image id {image_id}) cannot be read: {error}') \
                    from None
            if results is None:
                raise PseudoLabelError(f'image {path} (image id {image_id}): the test pipeline dropped it')
            if 'img' in results:
                return results, self.transforms[index + 1:]
        raise PseudoLabelError('the test pipeline loads no image (no transform sets `img`)')

    @torch.no_grad()
    def _detect(self, results: dict, transforms: list):
        for transform in transforms:
            results = transform(results)
        data = dict(inputs=[results['inputs']], data_samples=[results['data_samples']])
        found = self.detector.test_step(data)[0].pred_instances
        return found.bboxes.float().cpu(), found.scores.float().cpu(), found.labels.long().cpu()

    def __call__(self, path: str, image_id: int) -> Prediction:
        loaded, transforms = self._load(path, image_id)
        height, width = loaded['img'].shape[:2]
        mirror = None
        if self.flip:
            mirror = copy.deepcopy(loaded)
            mirror['img'] = np.ascontiguousarray(loaded['img'][:, ::-1])
        bboxes, scores, labels = self._detect(loaded, transforms)
        if mirror is not None:
            bboxes, scores, labels = merge_flip_detections(
                (bboxes, scores, labels), self._detect(mirror, transforms), width,
                self.iou_threshold, self.max_per_img)
        return (int(height), int(width)), bboxes.numpy(), scores.numpy(), labels.numpy()
