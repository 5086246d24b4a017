"""``SemiBaseDetector``: a teacher-student pair of one mmdet detector, trained with hard pseudo-labels.

One training iteration (``loss``), on a batch from mmdet's ``MultiBranch`` transform, keyed by branch:

* ``sup`` (labeled images): ``student.loss`` -> keys ``sup_*``, loss terms scaled by ``sup_weight``;
* ``unsup_teacher`` / ``unsup_student`` (weak / strong views of the same unlabeled images, paired by
  order): the **teacher** (frozen, eval mode, no grad) predicts on the weak view; its detections are the
  pseudo-labels; they are mapped into the student view with ``H_student @ inv(H_teacher)``, clipped, and
  degenerate ones dropped (:mod:`ssod.models.pseudo_labels`); the student learns from them -> keys
  ``unsup_*``, loss terms scaled by ``unsup_weight``. This base class uses hard labels: detections with
  ``score > cls_pseudo_thr`` (or, with ``adaptive_thr``, above their class's adaptive threshold: see
  :meth:`SemiBaseDetector.observe_teacher_scores`), any detector (one-stage RetinaNet/FCOS as well as
  two-stage).

A branch that is absent or empty gives the **same keys** as a normal iteration, with zero values that are
connected to every trainable parameter (so DDP ranks agree on keys and on the set of used parameters,
and logs stay continuous). The key set is the student's own ``loss`` keys, learned from the first
branch that had data (a dry run on a blank image only if the very first batch has no image at all).
Images whose pseudo-labels are all filtered out still train the student: its heads accept empty
ground truth (every anchor/proposal is background), which is what the reference implementations do.
mmdet's ``SemiBaseDetector`` instead zeroes ``unsup_weight`` for a batch without any pseudo box; we
do not, so a confident teacher's "nothing here" is used as background evidence.

The weights ``sup_weight`` and ``unsup_weight`` are plain float attributes, initialised from
``semi_train_cfg`` (and then removed from it); the ``Weighter`` hook sets ``unsup_weight`` before each
iteration. The attribute is what ``loss`` reads. An ``unsup_weight`` of exactly 0 skips the unlabeled
branch (no teacher pass, zero ``unsup_*`` losses): the same model and data then train as a supervised
run with an EMA teacher, the control of a semi-supervised run.

Prediction (``predict``, ``_forward``, ``extract_feat``) uses the model named by
``semi_test_cfg['predict_on']`` ('teacher' or 'student'); any other value is an error, at build time and
whenever it is used (it is never silently replaced by the other model).

Differences from mmdet 3.3's ``SemiBaseDetector`` (``mmdet/models/detectors/semi_base.py``): the teacher
stays in eval mode through ``model.train()``; empty/absent branches are not an error; the student never
sees the unlabeled images' other fields (a fresh data sample is built from the metainfo and the pseudo-
labels, so e.g. ``hidden_gt_instances`` cannot reach a loss); teacher -> student boxes are mapped in one
step and clipped once, in the student view.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.models.detectors import BaseDetector
from mmdet.models.utils import rename_loss_dict, reweight_loss_dict
from mmdet.structures import DetDataSample, SampleList
from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData
from torch import Tensor

from ssod.registry import MODELS, TASK_UTILS
from ..class_thresholds import build_adaptive_thresholds
from ..pseudo_labels import project_boxes, score_and_size_keep_mask, stage_masks, view_to_view_matrix

SUP, UNSUP_TEACHER, UNSUP_STUDENT = 'sup', 'unsup_teacher', 'unsup_student'
PREDICT_ON_CHOICES = ('teacher', 'student')

#: ``semi_train_cfg`` keys and their defaults (the paper's / reference values). Units: scores are
#: probabilities, sizes pixels, ``reg_pseudo_thr`` a relative (dimensionless) std.
DEFAULT_SEMI_TRAIN_CFG = dict(
    freeze_teacher=True,  # teacher parameters get requires_grad=False (the EMA hook updates them)
    sup_weight=1.0,  # factor on every sup_* loss term
    unsup_weight=4.0,  # factor on every unsup_* loss term (paper: alpha = 4)
    cls_pseudo_thr=0.9,  # hard pseudo-labels: score > thr (SoftTeacher: R-CNN classification gts)
    min_pseudo_bbox_wh=(1e-2, 1e-2),  # pixels; smaller pseudo boxes (after projection) are dropped
    # Used by SoftTeacher only; accepted here so one config can switch between the two types.
    pseudo_label_initial_score_thr=0.5,  # candidates for jitter uncertainty / regression
    rpn_pseudo_thr=0.9,  # RPN gts: score > thr
    reg_pseudo_thr=0.02,  # R-CNN regression gts: jitter uncertainty < thr
    jitter_times=10,  # jittered copies per candidate box
    jitter_scale=0.06,  # jitter std as a fraction of box w/h
    # whose w/h divides the jitter spread: 'refined_mean' (the reference code's) or 'candidate'
    uncertainty_scale='refined_mean',
    teacher_rois_per_pass=2048,  # RoIs per teacher box-head forward (memory bound; same results)
    # Ignore regions (SoftTeacher; None = off, the paper's behaviour): teacher detections with
    # ignore_score_thr < score <= a stage's pseudo-label threshold are ignore regions for that stage's
    # student assigner (RPN: rpn_pseudo_thr, R-CNN: cls_pseudo_thr). Anchors/proposals covered by one
    # (intersection over their own area > ignore_iof_thr) are neither foreground nor background, so an
    # object the teacher is unsure of is not taught as background.
    ignore_score_thr=None,
    ignore_iof_thr=0.5,
    # Per-class adaptive thresholds (None = off: the fixed thresholds above, the paper's behaviour): a
    # dict of ssod.models.class_thresholds.DEFAULT_ADAPTIVE_THR keys; the stages it names ('cls', 'rpn')
    # take each class's threshold from a two-component Gaussian mixture of the teacher's recent scores
    # of that class, falling back to cls_pseudo_thr / rpn_pseudo_thr while a class has no fit.
    adaptive_thr=None,
)
DEFAULT_SEMI_TEST_CFG = dict(predict_on='teacher')
#: The logger of pseudo-label precision/recall against hidden ground truth (``TASK_UTILS``; it lives in
#: :mod:`ssod.evaluation.online_pseudo_quality`, which ``ssod.models`` does not import).
DEFAULT_PSEUDO_QUALITY = dict(type='PseudoLabelQualityLogger')


def log_pseudo_scalar(name: str, value: float) -> None:
    """Record ``train/pseudo/<name>`` in the current message hub (printed and sent to log backends)."""
    MessageHub.get_current_instance().update_scalar(f'train/pseudo/{name}', float(value))


def _merge_cfg(defaults: dict, given: Optional[dict], what: str) -> ConfigDict:
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f'{what}: unknown key(s) {unknown}; known keys: {sorted(defaults)}')
    return ConfigDict({**defaults, **given})


@MODELS.register_module()
class SemiBaseDetector(BaseDetector):
    """Teacher-student semi-supervised wrapper of any mmdet detector (hard pseudo-labels).

    Args:
        detector: config of the mmdet detector; the teacher and the student are two instances of it.
        semi_train_cfg: keys of :data:`DEFAULT_SEMI_TRAIN_CFG` (unknown keys are an error).
        semi_test_cfg: ``predict_on`` = 'teacher' (default) or 'student'.
        data_preprocessor: usually ``MultiBranchDataPreprocessor`` wrapping the detector's preprocessor.
        init_cfg: mmengine init config of the wrapper.
        pseudo_quality: config of the object whose ``log(candidates, teacher_samples, semi_train_cfg)``
            measures the teacher's candidates once per unlabeled batch (``TASK_UTILS``; built with the
            detector's ``num_classes`` unless given). Default: :data:`DEFAULT_PSEUDO_QUALITY`; ``None``
            logs nothing.
    """

    def __init__(self,
                 detector: dict,
                 semi_train_cfg: Optional[dict] = None,
                 semi_test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 pseudo_quality: Optional[dict] = DEFAULT_PSEUDO_QUALITY) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.semi_train_cfg = _merge_cfg(DEFAULT_SEMI_TRAIN_CFG, semi_train_cfg, 'semi_train_cfg')
        self.semi_test_cfg = _merge_cfg(DEFAULT_SEMI_TEST_CFG, semi_test_cfg, 'semi_test_cfg')
        self._check_predict_on(self.semi_test_cfg.predict_on)
        # ConfigDict: mmdet detectors read their train/test cfgs by attribute (plain dicts would fail).
        self.student = MODELS.build(ConfigDict(detector))
        self.teacher = MODELS.build(ConfigDict(detector))
        # The loss weights live only in these attributes (what a Weighter sets and `loss` reads); they
        # are removed from semi_train_cfg so that a Weighter aimed at 'semi_train_cfg.unsup_weight'
        # fails at the start of training instead of changing a copy nobody reads.
        self.sup_weight = float(self.semi_train_cfg.pop('sup_weight'))
        self.unsup_weight = float(self.semi_train_cfg.pop('unsup_weight'))
        self.freeze_teacher = bool(self.semi_train_cfg.freeze_teacher)
        if self.freeze_teacher:
            for param in self.teacher.parameters():
                param.requires_grad_(False)
        self.teacher.eval()
        self._loss_template: Optional[Dict[str, Optional[int]]] = None
        # Precision/recall of pseudo boxes against hidden GT (when the batch carries it); logs only.
        self.pseudo_quality = _build_quality_logger(pseudo_quality, detector_num_classes(self.student))
        # Per-class adaptive thresholds (a submodule whose buffers are checkpointed), or None.
        self.adaptive_thresholds = build_adaptive_thresholds(self.semi_train_cfg.adaptive_thr,
                                                             detector_num_classes(self.student))

    # ------------------------------------------------------------------ modes and model selection
    def train(self, mode: bool = True) -> 'SemiBaseDetector':
        """Set the student (and wrapper) to ``mode``; the teacher always stays in eval mode.

        mmengine's loops call ``model.train()`` every iteration; a teacher in train mode would use batch
        statistics in BN layers and active dropout when producing pseudo-labels.
        """
        super().train(mode)
        self.teacher.eval()
        return self

    @staticmethod
    def _check_predict_on(value) -> None:
        if value not in PREDICT_ON_CHOICES:
            raise ValueError(f"semi_test_cfg['predict_on'] must be one of {PREDICT_ON_CHOICES}, "
                             f'got {value!r}')

    @property
    def predict_model(self) -> nn.Module:
        """The detector named by ``semi_test_cfg['predict_on']`` (checked at every use)."""
        predict_on = self.semi_test_cfg.get('predict_on')
        self._check_predict_on(predict_on)
        return self.teacher if predict_on == 'teacher' else self.student

    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Post-processed detections of the ``predict_on`` model."""
        return self.predict_model.predict(batch_inputs, batch_data_samples, rescale=rescale)

    def _forward(self, batch_inputs: Tensor, batch_data_samples: Optional[SampleList] = None):
        """Raw head outputs of the ``predict_on`` model."""
        return self.predict_model._forward(batch_inputs, batch_data_samples)

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """Backbone/neck features of the ``predict_on`` model."""
        return self.predict_model.extract_feat(batch_inputs)

    # ------------------------------------------------------------------ training
    def loss(self, multi_batch_inputs: Dict[str, Tensor],
             multi_batch_data_samples: Dict[str, SampleList]) -> dict:
        """Weighted ``sup_*`` and ``unsup_*`` losses of one multi-branch batch (see module docstring)."""
        inputs = multi_batch_inputs or {}
        samples = multi_batch_data_samples or {}
        num_teacher = self._branch_size(samples, UNSUP_TEACHER)
        num_student = self._branch_size(samples, UNSUP_STUDENT)
        if num_teacher != num_student:
            raise ValueError(f'unsup_teacher has {num_teacher} samples but unsup_student has '
                             f'{num_student}; the two views of an unlabeled image must come together')
        sup = unsup = None
        if self._branch_size(samples, SUP):
            sup = self.student.loss(inputs[SUP], samples[SUP])
            self._remember_loss_template(sup)
        if num_student and self.unsup_weight != 0:  # weight 0: the unlabeled images are not used
            unsup = self.unsup_losses(inputs[UNSUP_TEACHER], samples[UNSUP_TEACHER],
                                      inputs[UNSUP_STUDENT], samples[UNSUP_STUDENT])
            self._remember_loss_template(unsup)
        elif self.unsup_weight != 0:
            # No unlabeled image on this rank: it still takes part in the ranks' score gathering of the
            # adaptive thresholds (a collective), or the ranks that have unlabeled images would wait.
            self.observe_teacher_scores([])
        # Empty branches last, so that their keys come from this iteration's real losses when possible.
        sup = self._zero_losses() if sup is None else sup
        unsup = self._zero_losses() if unsup is None else unsup
        losses = rename_loss_dict('sup_', reweight_loss_dict(sup, self.sup_weight))
        losses.update(rename_loss_dict('unsup_', reweight_loss_dict(unsup, self.unsup_weight)))
        return losses

    def unsup_losses(self, teacher_inputs: Tensor, teacher_samples: SampleList,
                     student_inputs: Tensor, student_samples: SampleList) -> dict:
        """Unweighted, unprefixed student losses on the teacher's pseudo-labels (hard labels here)."""
        with torch.no_grad():
            pseudo = self.teacher_pseudo_labels(teacher_inputs, teacher_samples)
            self.observe_teacher_scores(pseudo)
            self.log_pseudo_quality(pseudo, teacher_samples)
            pseudo = self.pseudo_labels_to_student(pseudo, teacher_samples, student_samples)
        hard = [p[self.pseudo_label_stages(p)['cls']] for p in pseudo]
        self._log_counts('cls', hard)
        scores = torch.cat([p.scores for p in hard])
        if scores.numel():
            log_pseudo_scalar('score_mean', scores.mean())
        return self.student.loss(student_inputs, with_pseudo_gt(student_samples, hard))

    @torch.no_grad()
    def teacher_pseudo_labels(self, teacher_inputs: Tensor,
                              teacher_samples: SampleList) -> List[InstanceData]:
        """Teacher detections on the weak view (teacher-view pixels), w and h >= ``min_pseudo_bbox_wh``.

        Each item has ``bboxes`` (n, 4), ``scores`` (n,), ``labels`` (n,). The score threshold is applied
        by the caller, since SoftTeacher uses several.
        """
        results = self.teacher.predict(teacher_inputs, teacher_samples, rescale=False)
        min_wh = self.semi_train_cfg.min_pseudo_bbox_wh
        pseudo = []
        for result in results:
            det = result.pred_instances
            keep = score_and_size_keep_mask(det.bboxes, det.scores, -math.inf, min_wh)
            pseudo.append(InstanceData(bboxes=det.bboxes[keep], scores=det.scores[keep],
                                       labels=det.labels[keep]))
        self._log_counts('initial', pseudo)
        return pseudo

    def pseudo_labels_to_student(self, pseudo: List[InstanceData], teacher_samples: SampleList,
                                 student_samples: SampleList) -> List[InstanceData]:
        """Map every image's pseudo-labels from the teacher view to the student view.

        Boxes go through ``H_student @ inv(H_teacher)`` (``homography_matrix`` of each view's metainfo),
        are clipped to the student ``img_shape`` and dropped when narrower or lower than
        ``min_pseudo_bbox_wh`` pixels; every other per-box field is indexed with the same keep mask.
        """
        min_wh = self.semi_train_cfg.min_pseudo_bbox_wh
        moved = []
        for instances, teacher_sample, student_sample in zip(pseudo, teacher_samples, student_samples):
            _check_same_image(teacher_sample, student_sample)
            matrix = view_to_view_matrix(teacher_sample.homography_matrix,
                                         student_sample.homography_matrix)
            boxes, keep = project_boxes(instances.bboxes, matrix, student_sample.img_shape, min_wh)
            instances = instances.clone()
            instances.bboxes = boxes
            moved.append(instances[keep])
        return moved

    def log_pseudo_quality(self, candidates: Sequence[InstanceData], teacher_samples: SampleList) -> None:
        """Hand the teacher-view candidates of one unlabeled batch to the quality logger (if any); with
        adaptive thresholds, the per-class thresholds go with them (``thresholds=``), so the logger's
        stages are the detector's."""
        if self.pseudo_quality is None:
            return
        thresholds = self.pseudo_thresholds()
        if thresholds is None:
            self.pseudo_quality.log(candidates, teacher_samples, self.semi_train_cfg)
        else:
            self.pseudo_quality.log(candidates, teacher_samples, self.semi_train_cfg, thresholds=thresholds)

    # ------------------------------------------------------------------ thresholds
    def pseudo_thresholds(self) -> Optional[Dict[str, Tensor]]:
        """The per-class ``(num_classes,)`` thresholds of the adaptive stages (``'cls'``, ``'rpn'``), as
        :func:`~ssod.models.pseudo_labels.stage_masks` takes them; ``None`` without ``adaptive_thr``."""
        if self.adaptive_thresholds is None:
            return None
        cfg = self.semi_train_cfg
        return self.adaptive_thresholds.stage_thresholds(dict(rpn=cfg.rpn_pseudo_thr, cls=cfg.cls_pseudo_thr))

    def pseudo_label_stages(self, instances: InstanceData,
                            reg_uncertainty: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """The stage masks (:func:`~ssod.models.pseudo_labels.stage_masks`) of one image's boxes
        (``scores``, ``labels``) with this detector's thresholds: the config's, or per class where
        ``adaptive_thr`` is set."""
        return stage_masks(instances.scores, self.semi_train_cfg, reg_uncertainty, labels=instances.labels,
                           thresholds=self.pseudo_thresholds())

    @torch.no_grad()
    def observe_teacher_scores(self, detections: Sequence[InstanceData]) -> None:
        """With ``adaptive_thr``: queue the teacher's detection scores of this unlabeled batch (all
        images; ``AdaptiveClassThresholds.observe`` refits the classes seen) and log the thresholds now in
        effect, ``train/pseudo/thr_<stage>/<label>``. Called once per batch, before any threshold is
        applied, and with no detections on a rank without unlabeled images (every rank joins the gathering
        of scores over ranks in every iteration whose ``unsup_weight`` is not 0). Without
        ``adaptive_thr``: nothing."""
        if self.adaptive_thresholds is None:
            return
        if len(detections):
            scores = torch.cat([d.scores for d in detections])
            labels = torch.cat([d.labels for d in detections])
        else:
            scores = self.adaptive_thresholds.fitted_thr.new_zeros((0,))
            labels = scores.new_zeros((0,), dtype=torch.long)
        self.adaptive_thresholds.observe(scores, labels)
        for stage, per_class in self.pseudo_thresholds().items():
            for label, value in enumerate(per_class.tolist()):
                log_pseudo_scalar(f'thr_{stage}/{label}', value)

    # ------------------------------------------------------------------ zero losses for empty branches
    def _remember_loss_template(self, losses: dict) -> None:
        if self._loss_template is None:
            self._loss_template = {
                key: len(value) if isinstance(value, (list, tuple)) else None
                for key, value in losses.items()}

    def _zero_losses(self) -> dict:
        """The student's loss keys with zero values connected to every trainable student parameter."""
        if self._loss_template is None:
            self._remember_loss_template(self._dry_run_student_losses())
        params = [p for p in self.student.parameters() if p.requires_grad]
        zero = sum(p.sum() for p in params) * 0.0 if params else torch.zeros(())
        return {key: zero if length is None else [zero] * length
                for key, length in self._loss_template.items()}

    def _dry_run_student_losses(self) -> dict:
        """Student losses on one blank 64 x 64 image without boxes, only to learn the loss keys.

        Runs in eval mode (BN statistics untouched), without grad, and with the RNG state restored.
        """
        device = next(self.student.parameters()).device
        sample = DetDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                             pad_shape=(64, 64), scale_factor=(1.0, 1.0),
                                             batch_input_shape=(64, 64)))
        sample.gt_instances = InstanceData(bboxes=torch.zeros((0, 4), device=device),
                                           labels=torch.zeros((0,), dtype=torch.long, device=device))
        was_training = self.student.training
        rng_devices = [device] if device.type == 'cuda' else []
        try:
            self.student.eval()
            with torch.no_grad(), torch.random.fork_rng(devices=rng_devices):
                return self.student.loss(torch.zeros((1, 3, 64, 64), device=device), [sample])
        finally:
            self.student.train(was_training)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _branch_size(samples: dict, branch: str) -> int:
        return len(samples.get(branch) or [])

    @staticmethod
    def _log_counts(stage: str, pseudo: Sequence[InstanceData]) -> None:
        if len(pseudo):
            log_pseudo_scalar(f'{stage}_per_img', sum(len(p) for p in pseudo) / len(pseudo))

    # ------------------------------------------------------------------ checkpoints
    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict,
                              strict: bool, missing_keys: list, unexpected_keys: list,
                              error_msgs: list) -> None:
        """Accept a plain detector's state dict: copy each key under ``teacher.`` and ``student.``.

        Applies only when none of this module's keys starts with ``teacher.`` or ``student.``, so that
        ``load_from`` a supervised checkpoint initialises both models; semi checkpoints load unchanged.
        """
        own = [key for key in state_dict if key.startswith(prefix)]
        if own and not any(key[len(prefix):].startswith(('teacher.', 'student.')) for key in own):
            for key in own:
                value = state_dict.pop(key)
                rest = key[len(prefix):]
                state_dict[f'{prefix}teacher.{rest}'] = value
                state_dict[f'{prefix}student.{rest}'] = value
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def detector_num_classes(detector) -> Optional[int]:
    """``num_classes`` of an mmdet detector's box head (two-stage or one-stage), ``None`` if unknown."""
    roi_head = getattr(detector, 'roi_head', None)
    head = getattr(roi_head, 'bbox_head', None) if roi_head is not None else None
    head = head if head is not None else getattr(detector, 'bbox_head', None)
    num_classes = getattr(head, 'num_classes', None)
    return int(num_classes) if isinstance(num_classes, int) else None


def _build_quality_logger(cfg: Optional[dict], num_classes: Optional[int]):
    """The pseudo-label quality logger of ``cfg`` (looked up in ``TASK_UTILS`` by name, whatever the
    default scope), ``None`` for ``cfg=None``."""
    if cfg is None:
        return None
    cfg = dict(cfg)
    logger_type = cfg.pop('type')
    logger_cls = TASK_UTILS.get(logger_type) if isinstance(logger_type, str) else logger_type
    if logger_cls is None:
        raise KeyError(f'pseudo_quality: {logger_type!r} is not in the TASK_UTILS registry')
    cfg.setdefault('num_classes', num_classes)
    return logger_cls(**cfg)


def with_pseudo_gt(samples: SampleList, pseudo: Sequence[InstanceData]) -> SampleList:
    """Fresh data samples for the student: the originals' metainfo, ``gt_instances`` = pseudo boxes and
    labels (nothing else of the originals, so hidden ground truth cannot leak into a loss)."""
    out = []
    for sample, instances in zip(samples, pseudo):
        new = DetDataSample(metainfo=sample.metainfo)
        new.gt_instances = InstanceData(bboxes=instances.bboxes, labels=instances.labels)
        if 'ignored_instances' in sample:
            new.ignored_instances = sample.ignored_instances
        out.append(new)
    return out


def _check_same_image(teacher_sample: DetDataSample, student_sample: DetDataSample) -> None:
    """The two views are paired by order; where both know their file, check it is the same image."""
    t_path, s_path = teacher_sample.get('img_path'), student_sample.get('img_path')
    if t_path is not None and s_path is not None and t_path != s_path:
        raise ValueError(f'unsup_teacher/unsup_student samples out of order: {t_path} vs {s_path}')
