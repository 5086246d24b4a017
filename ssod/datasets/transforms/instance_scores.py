"""``KeepInstanceScores``: carries a confidence per box through mmdet transforms that drop boxes.

Pseudo-labeled images (:class:`~ssod.datasets.pseudo_labeled_coco.PseudoLabeledCocoDataset`) give each
box the teacher's score. mmdet's transforms that drop boxes (``RandomCrop``, ``FilterAnnotations``,
``RandomErasing``, ...) index ``gt_bboxes``, ``gt_bboxes_labels`` and ``gt_ignore_flags`` with one mask
and know nothing of a score array, so a separate score array would fall out of step with the boxes.

The wrapper keeps the scores aligned without touching those transforms: before its inner transforms it
stores the labels and the scores (``results['instances'][i]['score']``, in the order mmdet's
``LoadAnnotations`` builds ``gt_bboxes``; 1.0 where an instance has none, so labeled images pass too)
and puts the box indices ``0..n-1`` in ``gt_bboxes_labels``. Every surviving box then carries its own
index; afterwards the labels are restored from those indices and ``results['gt_scores']`` (float32,
aligned with ``gt_bboxes``) is set. ``PackScoredDetInputs`` packs it into ``gt_instances.scores``.

Inner transforms must not read ``gt_bboxes_labels`` as class ids nor bring in boxes of other images
(Mosaic, MixUp, CopyPaste): none of the resizing, flipping, cropping, filtering, RandAugment and erasing
transforms does. Packing belongs after the wrapper.

Example (the strong view of ``configs/_base_/datasets/semi_tree_crowns.py``)::

    dict(type='KeepInstanceScores', transforms=[
        dict(type='RandomResize', scale=(256, 256), ratio_range=(0.75, 1.25), keep_ratio=True),
        dict(type='RandomFlip', prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
        ...
        dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2), keep_empty=False)]),
    dict(type='PackScoredDetInputs'),
"""
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform, Compose

from ssod.registry import TRANSFORMS

GT_SCORES = 'gt_scores'


def instance_scores(instances: Optional[Sequence[dict]], num_boxes: int) -> np.ndarray:
    """float32 scores of the ``num_boxes`` boxes from the instance dicts (1.0 where absent).

    ``instances`` is the data info's list, whose order is the order of ``gt_bboxes`` after mmdet's
    ``LoadAnnotations``; ``None`` (no instance list, e.g. ``LoadEmptyAnnotations``) gives ones.
    """
    if instances is None:
        return np.ones(num_boxes, dtype=np.float32)
    if len(instances) != num_boxes:
        raise ValueError(f'KeepInstanceScores: {len(instances)} instances but {num_boxes} gt_bboxes; the '
                         'wrapper must come right after LoadAnnotations, before any transform that drops '
                         'boxes')
    return np.array([float(inst.get('score', 1.0)) for inst in instances], dtype=np.float32).reshape(-1)


@TRANSFORMS.register_module()
class KeepInstanceScores(BaseTransform):
    """Run ``transforms`` keeping every box's label and score with it (see the module docstring).

    Args:
        transforms: the inner transforms (configs or callables), run in order.

    Reads ``gt_bboxes``, ``gt_bboxes_labels`` and ``instances``; sets ``gt_scores``. Returns None when an
    inner transform does.
    """

    def __init__(self, transforms: List[Union[dict, Callable]]) -> None:
        self.transforms = Compose(transforms)

    def transform(self, results: dict) -> Optional[dict]:
        if 'gt_bboxes' not in results or 'gt_bboxes_labels' not in results:
            raise KeyError('KeepInstanceScores needs gt_bboxes and gt_bboxes_labels: put '
                           'LoadAnnotations(with_bbox=True) before it')
        num_boxes = len(results['gt_bboxes'])
        labels = np.asarray(results['gt_bboxes_labels'])
        if len(labels) != num_boxes:
            raise ValueError(f'KeepInstanceScores: {len(labels)} gt_bboxes_labels for {num_boxes} gt_bboxes')
        scores = instance_scores(results.get('instances'), num_boxes)
        results['gt_bboxes_labels'] = np.arange(num_boxes, dtype=np.int64)
        results = self.transforms(results)
        if results is None:
            return None
        if 'gt_bboxes_labels' not in results:
            raise KeyError('KeepInstanceScores: the inner transforms removed gt_bboxes_labels; put the '
                           'packing transform (PackScoredDetInputs) after the wrapper, not inside it')
        survivors = np.asarray(results['gt_bboxes_labels'])
        if survivors.size and (survivors.min() < 0 or survivors.max() >= num_boxes):
            raise ValueError('KeepInstanceScores: the inner transforms produced box indices outside '
                             f'0..{num_boxes - 1}; transforms that mix images (Mosaic, MixUp, CopyPaste) '
                             'cannot be wrapped')
        survivors = survivors.astype(np.int64)
        results['gt_bboxes_labels'] = labels[survivors]
        results[GT_SCORES] = scores[survivors]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(transforms={self.transforms.transforms})'
