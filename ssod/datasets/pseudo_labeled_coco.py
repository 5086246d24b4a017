"""``PseudoLabeledCocoDataset``: the pseudo-labeled images a Noisy Student student trains on.

Noisy Student (Xie et al., CVPR 2020) trains the student on the labeled images plus images labeled by
the teacher. The teacher's boxes come as a COCO file whose annotations each carry a float ``score``
(the teacher's confidence; written by ``tools/pseudo_label.py``). This data set reads such a file like
mmdet's ``CocoDataset`` (every ``CocoDataset`` argument keeps its meaning) and

* keeps the boxes with ``score >= score_thr``; each kept instance dict carries its ``score`` (float),
  which ``KeepInstanceScores`` / ``PackScoredDetInputs`` carry to ``gt_instances.scores`` and
  ``ScoreWeightedRoIHead`` uses to weight the classification loss;
* leaves images without a kept box to ``filter_cfg`` as usual: with ``filter_empty_gt=True`` they are
  left out, otherwise they stay as images without boxes (everything is background);
* optionally balances the classes as the paper does (``class_balance=dict(images_per_class=K)``,
  :mod:`ssod.datasets.class_balance`);
* logs once, when the data list is built: boxes dropped under ``score_thr``, images and boxes kept per
  class, and the entries per class after balancing.

Example::

    dict(type='PseudoLabeledCocoDataset', data_root='data/tree_crowns/',
         ann_file='annotations/pseudo.json', data_prefix=dict(img='images/'),
         score_thr=0.5, class_balance=dict(images_per_class=100),
         filter_cfg=dict(filter_empty_gt=True), pipeline=pseudo_pipeline)
"""
import math
from collections import defaultdict
from typing import Dict, List, Optional

from mmdet.datasets import CocoDataset
from mmengine.logging import MMLogger

from ssod.registry import DATASETS
from .class_balance import best_score_per_class, class_balanced_selection

PSEUDO_LABEL_HINT = 'write the file with tools/pseudo_label.py, which gives every box its score'


@DATASETS.register_module()
class PseudoLabeledCocoDataset(CocoDataset):
    """``CocoDataset`` of pseudo labels with a ``score`` per annotation (see the module docstring).

    Args:
        score_thr: boxes with ``score < score_thr`` are left out (default 0.5).
        class_balance: ``None`` (keep every image once) or ``dict(images_per_class=K)``: per class, the
            ``K`` images of highest confidence for it, images of classes with fewer repeated up to ``K``.
            The data list is then the concatenation of the per-class selections in class order, so an
            image selected for two classes appears twice, and images without a (non-ignored) box are
            not in it at all. Applied after ``filter_cfg``.
        *args, **kwargs: as mmdet's ``CocoDataset``.
    """

    DEFAULT_SCORE_THR = 0.5

    def __init__(self, *args, score_thr: float = DEFAULT_SCORE_THR, class_balance: Optional[dict] = None,
                 **kwargs) -> None:
        if isinstance(score_thr, bool) or not isinstance(score_thr, (int, float)) \
                or not math.isfinite(score_thr):
            raise ValueError(f'PseudoLabeledCocoDataset: score_thr must be a finite number, got {score_thr!r}')
        self.score_thr = float(score_thr)
        self.images_per_class = self._images_per_class(class_balance)
        self.num_boxes_below_thr = 0
        self._kept_cat_img_map: Dict[int, List[int]] = defaultdict(list)
        super().__init__(*args, **kwargs)

    @staticmethod
    def _images_per_class(class_balance: Optional[dict]) -> Optional[int]:
        if class_balance is None:
            return None
        if not isinstance(class_balance, dict) or set(class_balance) != {'images_per_class'}:
            raise ValueError('PseudoLabeledCocoDataset: class_balance must be None or '
                             f'dict(images_per_class=K), got {class_balance!r}')
        k = class_balance['images_per_class']
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError('PseudoLabeledCocoDataset: class_balance.images_per_class must be an integer '
                             f'>= 1, got {k!r}')
        return k

    def load_data_list(self) -> List[dict]:
        self.num_boxes_below_thr = 0
        self._kept_cat_img_map = defaultdict(list)
        data_list = super().load_data_list()
        # mmdet's filter_empty_gt asks cat_img_map which images hold annotations; only the boxes kept
        # by score_thr count here.
        self.cat_img_map = {cat_id: list(self._kept_cat_img_map.get(cat_id, [])) for cat_id in self.cat_ids}
        return data_list

    def _score(self, ann: dict, img_id) -> float:
        if 'score' not in ann:
            raise ValueError(
                f"{self.ann_file}: annotation {ann.get('id')} of image {img_id} has no 'score'; "
                f'PseudoLabeledCocoDataset reads pseudo labels with a confidence per box: {PSEUDO_LABEL_HINT}')
        score = ann['score']
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"{self.ann_file}: annotation {ann.get('id')} of image {img_id} has score "
                             f'{score!r}, not a finite number; {PSEUDO_LABEL_HINT}')
        return float(score)

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """mmdet's parsing of the annotations with ``score >= score_thr``, each instance with its score.

        Each kept annotation goes through ``CocoDataset.parse_data_info`` on its own, so that mmdet's rules
        (crowd -> ignore flag, boxes outside the image or under 1 px dropped, ...) apply unchanged and
        every instance is matched to the score of its own annotation.
        """
        img_info = raw_data_info['raw_img_info']
        img_id = img_info['img_id']
        kept = []
        for ann in raw_data_info['raw_ann_info']:
            score = self._score(ann, img_id)
            if score < self.score_thr:
                self.num_boxes_below_thr += 1
                continue
            kept.append((ann, score))
            self._kept_cat_img_map[ann['category_id']].append(img_id)
        data_info = super().parse_data_info(dict(raw_ann_info=[], raw_img_info=img_info))
        for ann, score in kept:
            parsed = super().parse_data_info(dict(raw_ann_info=[ann], raw_img_info=img_info))
            for instance in parsed['instances']:
                instance['score'] = score
                data_info['instances'].append(instance)
        return data_info

    def filter_data(self) -> List[dict]:
        data_list = super().filter_data()
        best_scores = [best_score_per_class(*_trained_labels_and_scores(info)) for info in data_list]
        selection = None
        if self.images_per_class is not None:
            selection = class_balanced_selection(best_scores, [info['img_id'] for info in data_list],
                                                 len(self.metainfo['classes']), self.images_per_class)
        self._log_summary(data_list, best_scores, selection)
        if selection is None:
            return data_list
        return [data_list[i] for per_class in selection for i in per_class]

    def _log_summary(self, data_list: List[dict], best_scores: List[dict],
                     selection: Optional[List[List[int]]]) -> None:
        classes = self.metainfo['classes']
        boxes = [0] * len(classes)
        for info in data_list:
            for label in _trained_labels_and_scores(info)[0]:
                boxes[label] += 1
        parts = []
        for c, name in enumerate(classes):
            images = sum(1 for scores in best_scores if c in scores)
            part = f'{name}: {images} images, {boxes[c]} boxes'
            if selection is not None:
                part += f' -> {len(selection[c])} entries ({len(set(selection[c]))} distinct images)'
            parts.append(part)
        balance = '' if selection is None else f', class balance {self.images_per_class} images per class'
        MMLogger.get_current_instance().info(
            f'PseudoLabeledCocoDataset {self.ann_file}: score_thr {self.score_thr} dropped '
            f'{self.num_boxes_below_thr} boxes; kept {len(data_list)} images{balance}; per class: '
            + '; '.join(parts))


def _trained_labels_and_scores(data_info: dict):
    """Labels and scores of the instances that are trained (ignore flag 0)."""
    trained = [inst for inst in data_info['instances'] if not inst.get('ignore_flag', 0)]
    return [inst['bbox_label'] for inst in trained], [inst['score'] for inst in trained]
