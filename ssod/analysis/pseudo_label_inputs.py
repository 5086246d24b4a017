"""The teacher's pseudo boxes on unlabeled images, next to their hidden ground truth (shared by
``show_pseudo_labels.py`` and ``pseudo_label_report.py``).

What it does, for an mmengine config and a checkpoint:

1. **Model.** Builds ``cfg.model``. A semi-supervised model (``SemiBaseDetector`` / ``SoftTeacher``) is
   used as is; a plain detector config (e.g. the supervised demo) is wrapped in ``SoftTeacher``
   (two-stage detectors) or ``SemiBaseDetector`` (others) with the default ``semi_train_cfg`` (to
   set thresholds, use a semi config and ``--cfg-options model.semi_train_cfg...``). Plain-detector
   checkpoints (e.g. of the supervised demo) load into teacher and student alike
   (``SemiBaseDetector._load_from_state_dict``); the **teacher** predicts.
2. **Images.** The unlabeled dataset of the config (the dataset whose ``ann_file`` is
   ``unlabeled.json``; for a config without one, the val dataset's settings with
   ``annotations/unlabeled.json``), or ``--unlabeled-json``, read with the config's *test* pipeline (no
   augmentation: the teacher sees each image as at validation). The pictures of the training views
   (:mod:`ssod.analysis.view_pseudo_labels`) keep the unlabeled dataset's own training pipeline instead.
3. **Hidden ground truth.** ``--hidden-gt``, else the config's ``hidden_gt_file`` of that dataset,
   else ``unlabeled-hidden-gt.json`` next to the unlabeled json (the file
   :func:`ssod.data.coco_files.write_semi_split` writes). It is read by the ``CocoWithHiddenGT``
   dataset (:mod:`ssod.datasets.hidden_gt`), which checks that every unlabeled image is in it under the
   same id and file name and maps categories to the config's classes by name (``iscrowd`` and
   sub-pixel boxes are left out); the boxes are in the original image frame.
4. **Filter stages**, decided by the function SoftTeacher filters with during training
   (:func:`ssod.models.pseudo_labels.stage_masks`); each box gets the last stage it passes:

   * ``STAGE_DETECTED`` (0): a teacher detection (``teacher_pseudo_labels``: the teacher's test config
     ``score_thr`` and ``min_pseudo_bbox_wh``) with score <= ``pseudo_label_initial_score_thr``;
   * ``STAGE_INITIAL`` (1): score > ``pseudo_label_initial_score_thr`` (a SoftTeacher candidate);
   * ``STAGE_CLS`` (2): and score > ``cls_pseudo_thr`` (a classification pseudo box);
   * ``STAGE_REG`` (3): and jitter regression uncertainty < ``reg_pseudo_thr`` (also a regression pseudo
     box). The uncertainty comes from ``SoftTeacher.jitter_uncertainty`` on the teacher's features; it
     is computed for every candidate (stage >= 1), not only those above ``cls_pseudo_thr`` as in
     training, so that other thresholds can be studied. Detectors without it never reach stage 3.

   The jitter is random; ``seed`` makes it reproducible.

Boxes are returned in pixels of the **original** image (the test pipeline's ``scale_factor`` undone), the
frame of the hidden ground truth. Errors in the inputs raise :class:`PseudoLabelInputError` with the file
or field and what to do.
"""
import copy
import math
import os.path as osp
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import ssod  # noqa: F401  (registers ssod components, checkpoint allow-list)
from ssod.apis.data_checks import leaf_datasets
from ssod.compat.checkpoint_safety import CHECKPOINT_LOAD_ERRORS
from ssod.data.coco_files import SPLIT_FILE_NAMES
from ssod.datasets.hidden_gt import HIDDEN_GT_BBOXES, HIDDEN_GT_LABELS
from ssod.models.detectors.semi_base import SemiBaseDetector
from ssod.models.pseudo_labels import (fill_uncertainty, initial_candidate_mask, score_and_size_keep_mask,
                                       stage_masks)
from ssod.registry import DATASETS, MODELS

STAGE_DETECTED, STAGE_INITIAL, STAGE_CLS, STAGE_REG = 0, 1, 2, 3
NUM_STAGES = 4


class PseudoLabelInputError(ValueError):
    """A config, checkpoint, annotation file or image-id mismatch that stops the analysis."""


@dataclass
class ImagePseudoLabels:
    """One unlabeled image: the teacher's boxes (original-image pixels, xyxy) with their filter stage,
    and the hidden ground truth (same frame). Arrays are numpy; labels are class indices."""

    img_id: int
    img_path: str
    ori_shape: Tuple[int, int]  # (height, width) pixels
    bboxes: np.ndarray  # (n, 4) float
    scores: np.ndarray  # (n,)
    labels: np.ndarray  # (n,) int
    reg_uncertainty: np.ndarray  # (n,) dimensionless; inf where not computed
    stages: np.ndarray  # (n,) int, STAGE_*
    gt_bboxes: np.ndarray  # (m, 4) float
    gt_labels: np.ndarray  # (m,) int


# ---------------------------------------------------------------------------------------------- config
def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    if not osp.isfile(path):
        raise PseudoLabelInputError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _datasets_in(dataset_cfg) -> List[ConfigDict]:
    """The leaf dataset configs of a (possibly concatenated / wrapped) dataset config."""
    return [leaf for _, leaf in leaf_datasets(dataset_cfg, 'dataset')]


def _test_pipeline(cfg: Config) -> list:
    for loader in ('test_dataloader', 'val_dataloader'):
        dataset = cfg.get(loader, {}).get('dataset')
        leaves = _datasets_in(dataset)
        if leaves and leaves[0].get('pipeline'):
            return copy.deepcopy(leaves[0]['pipeline'])
    if cfg.get('test_pipeline'):
        return copy.deepcopy(cfg.test_pipeline)
    raise PseudoLabelInputError('the config has no test pipeline (test_dataloader.dataset.pipeline, '
                                'val_dataloader.dataset.pipeline or test_pipeline)')


PIPELINES = ('test', 'train')


def unlabeled_dataset_cfg(cfg: Config, unlabeled_json: Optional[str] = None,
                          hidden_gt: Optional[str] = None, pipeline: str = 'test') -> ConfigDict:
    """``CocoWithHiddenGT`` config of the unlabeled images (module docstring).

    ``pipeline``: ``'test'`` (default) reads them with the config's test pipeline; ``'train'`` keeps the
    unlabeled training dataset's own pipeline (weak and strong views, ``MultiBranch``), which only a
    semi config has.
    """
    if pipeline not in PIPELINES:
        raise ValueError(f'pipeline must be one of {PIPELINES}, got {pipeline!r}')
    unlabeled_name = SPLIT_FILE_NAMES['unlabeled']
    train = _datasets_in(cfg.get('train_dataloader', {}).get('dataset'))
    found = [d for d in train if osp.basename(str(d.get('ann_file', ''))) == unlabeled_name]
    if pipeline == 'train' and not (found and found[0].get('pipeline')):
        raise PseudoLabelInputError(
            f'the config has no unlabeled training dataset with a pipeline (a dataset of '
            f'train_dataloader.dataset whose ann_file is {unlabeled_name}), so there are no weak and '
            f'strong views to show; pass a semi config (e.g. configs/demo/soft_teacher_lite0_tree_crowns.py)')
    if found:
        dataset = copy.deepcopy(found[0])
    else:
        val = _datasets_in(cfg.get('val_dataloader', {}).get('dataset'))
        if not val:
            raise PseudoLabelInputError('the config has neither an unlabeled training dataset nor a val '
                                        'dataset to take the data settings from; pass a semi config')
        dataset = copy.deepcopy(val[0])
        dataset['ann_file'] = f'annotations/{unlabeled_name}'
        dataset.pop('hidden_gt_file', None)
    if unlabeled_json is not None:
        dataset['ann_file'] = osp.abspath(unlabeled_json)
        dataset.pop('hidden_gt_file', None)
    if hidden_gt is not None:
        dataset['hidden_gt_file'] = osp.abspath(hidden_gt)
    elif not dataset.get('hidden_gt_file'):
        dataset['hidden_gt_file'] = osp.join(osp.dirname(str(dataset['ann_file'])),
                                             SPLIT_FILE_NAMES['hidden_gt'])
    dataset['type'] = 'CocoWithHiddenGT'
    if pipeline == 'test':
        dataset['pipeline'] = _test_pipeline(cfg)
    dataset['test_mode'] = True
    dataset['filter_cfg'] = None
    dataset.pop('indices', None)
    return dataset


def _under_root(path: str, dataset_cfg: dict) -> str:
    """A path as mmengine's BaseDataset resolves it (``data_root`` + relative path)."""
    path = str(path)
    if not osp.isabs(path) and dataset_cfg.get('data_root'):
        path = osp.join(dataset_cfg['data_root'], path)
    return path


def build_unlabeled_dataset(dataset_cfg: dict):
    """The dataset; a missing file or hidden GT that does not match the images is a clear error."""
    ann_file = _under_root(dataset_cfg['ann_file'], dataset_cfg)
    if not osp.isfile(ann_file):
        raise PseudoLabelInputError(
            f'unlabeled annotation file {ann_file} does not exist; prepare the data (e.g. '
            f'tools/data/prepare_tree_crowns.py or tools/data/make_synthetic.py) or pass '
            f'--unlabeled-json')
    try:
        return DATASETS.build(dataset_cfg)
    except (FileNotFoundError, ValueError) as error:  # from ssod.datasets.hidden_gt: says what to do
        raise PseudoLabelInputError(f'{error} [this tool: pass the hidden ground truth with --hidden-gt '
                                    f'PATH]') from None


# ---------------------------------------------------------------------------------------------- model
def build_teacher_model(cfg: Config, checkpoint: str, device: str = 'cpu') -> SemiBaseDetector:
    """The semi model of ``cfg`` (a plain detector is wrapped) with ``checkpoint`` loaded, eval mode."""
    if not osp.isfile(checkpoint):
        raise PseudoLabelInputError(f'checkpoint {checkpoint} does not exist')
    init_default_scope(cfg.get('default_scope', 'ssod'))
    model_cfg = copy.deepcopy(cfg.model)
    model_type = MODELS.get(model_cfg['type'])
    if model_type is None or not issubclass(model_type, SemiBaseDetector):
        wrapper = 'SoftTeacher' if 'roi_head' in model_cfg else 'SemiBaseDetector'
        model_cfg = ConfigDict(type=wrapper, detector=model_cfg,
                               data_preprocessor=copy.deepcopy(model_cfg.get('data_preprocessor')))
    model = MODELS.build(model_cfg)
    try:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    except CHECKPOINT_LOAD_ERRORS as error:  # refused or unreadable: the message says what to do
        raise PseudoLabelInputError(str(error)) from None
    except (RuntimeError, KeyError) as error:
        raise PseudoLabelInputError(f'checkpoint {checkpoint} does not fit the model of the config: '
                                    f'{str(error)[:500]}') from None
    return model.to(device).eval()


@torch.no_grad()
def teacher_boxes_with_stages(model: SemiBaseDetector, inputs: torch.Tensor, samples) -> list:
    """Per image: teacher detections (view pixels) with ``reg_uncertainty`` and ``stages``."""
    cfg = model.semi_train_cfg
    if hasattr(model, 'teacher_detections'):  # SoftTeacher: one teacher backbone pass for both uses
        feats, detections = model.teacher_detections(inputs, samples)
        detections = [d[score_and_size_keep_mask(d.bboxes, d.scores, -math.inf, cfg.min_pseudo_bbox_wh)]
                      for d in detections]
    else:
        feats, detections = None, model.teacher_pseudo_labels(inputs, samples)
    candidates = [initial_candidate_mask(d.bboxes, d.scores, cfg) for d in detections]
    if feats is not None:
        uncertainties = model.jitter_uncertainty(feats, [d[m] for d, m in zip(detections, candidates)],
                                                 samples)
    else:
        uncertainties = [d.scores.new_zeros((0,)) for d in detections]
    for det, mask, uncertainty in zip(detections, candidates, uncertainties):
        measured = mask if feats is not None else torch.zeros_like(mask)
        det.reg_uncertainty = fill_uncertainty(det.scores, measured, uncertainty)
        stages = stage_masks(det.scores, cfg, det.reg_uncertainty, initial=mask)
        det.stages = stages['initial'].long() + stages['cls'].long() + stages['reg'].long()
    return detections


def _to_original_pixels(bboxes: torch.Tensor, sample) -> np.ndarray:
    scale = sample.metainfo.get('scale_factor', (1.0, 1.0))
    factors = bboxes.new_tensor([scale[0], scale[1], scale[0], scale[1]])
    return (bboxes / factors).cpu().numpy().astype(np.float32).reshape(-1, 4)


def iterate_pseudo_labels(model: SemiBaseDetector, dataset, num_images: Optional[int] = None,
                          batch_size: int = 4, seed: int = 0) -> Iterator[ImagePseudoLabels]:
    """Run the teacher over the first ``num_images`` images of ``dataset`` (all when None)."""
    count = len(dataset) if num_images is None else min(int(num_images), len(dataset))
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for start in range(0, count, batch_size):
            indices = range(start, min(start + batch_size, count))
            data = model.data_preprocessor(pseudo_collate([dataset[i] for i in indices]), False)
            detections = teacher_boxes_with_stages(model, data['inputs'], data['data_samples'])
            for index, sample, det in zip(indices, data['data_samples'], detections):
                info = dataset.get_data_info(index)
                yield ImagePseudoLabels(
                    img_id=int(sample.img_id), img_path=sample.img_path,
                    ori_shape=tuple(int(v) for v in sample.ori_shape[:2]),
                    bboxes=_to_original_pixels(det.bboxes, sample),
                    scores=det.scores.cpu().numpy(), labels=det.labels.cpu().numpy().astype(np.int64),
                    reg_uncertainty=det.reg_uncertainty.cpu().numpy(),
                    stages=det.stages.cpu().numpy(),
                    gt_bboxes=np.asarray(info[HIDDEN_GT_BBOXES], dtype=np.float32).reshape(-1, 4),
                    gt_labels=np.asarray(info[HIDDEN_GT_LABELS], dtype=np.int64))
    finally:
        torch.random.set_rng_state(generator_state)


@dataclass
class PseudoLabelSetup:
    """Everything both tools need, built from the command-line arguments."""

    cfg: Config
    model: SemiBaseDetector
    dataset: object  # CocoWithHiddenGT
    classes: Tuple[str, ...]
    unlabeled_path: str
    hidden_gt_path: str


def prepare(config: str, checkpoint: str, unlabeled_json: Optional[str] = None,
            hidden_gt: Optional[str] = None, cfg_options: Optional[dict] = None,
            device: str = 'cpu', pipeline: str = 'test') -> PseudoLabelSetup:
    """Load config, data with hidden GT (checked against the images) and model, in that order, so
    that data errors are reported before the slower model build. ``pipeline``: as
    :func:`unlabeled_dataset_cfg`."""
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'ssod'))
    dataset_cfg = unlabeled_dataset_cfg(cfg, unlabeled_json, hidden_gt, pipeline)
    dataset = build_unlabeled_dataset(dataset_cfg)
    model = build_teacher_model(cfg, checkpoint, device)
    return PseudoLabelSetup(cfg, model, dataset, tuple(dataset.metainfo['classes']),
                            _under_root(dataset_cfg['ann_file'], dataset_cfg),
                            _under_root(dataset_cfg['hidden_gt_file'], dataset_cfg))
