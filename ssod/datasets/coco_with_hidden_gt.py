"""``CocoWithHiddenGT``: a ``CocoDataset`` of unlabeled images that carries their hidden ground truth.

Used for the unlabeled source of a semi-supervised config when the images come from a labeled corpus.
With ``hidden_gt_file=None`` it is exactly mmdet's ``CocoDataset``. Otherwise every data info gets
``hidden_gt_bboxes`` / ``hidden_gt_labels`` in the original image frame (:mod:`ssod.datasets.hidden_gt`),
checked against the unlabeled images when the data set is built, i.e. at the start of training.

Example (the unlabeled source of ``configs/_base_/datasets/semi_tree_crowns.py``)::

    dict(type='CocoWithHiddenGT', data_root='data/tree_crowns/', ann_file='annotations/unlabeled.json',
         hidden_gt_file='annotations/unlabeled-hidden-gt.json', ...)

COCO partial benchmarks: ``ann_file`` = the ``-unlabeled`` split, ``hidden_gt_file`` =
``annotations/instances_train2017.json``. A relative ``hidden_gt_file`` is joined to ``data_root``,
like ``ann_file``.
"""
import os.path as osp
from typing import List, Optional

from mmdet.datasets import CocoDataset

from ssod.registry import DATASETS
from .bad_image_skip import SkipBadImagesMixin
from .hidden_gt import attach_hidden_gt, load_hidden_gt


@DATASETS.register_module()
class CocoWithHiddenGT(SkipBadImagesMixin, CocoDataset):
    """``CocoDataset`` plus hidden ground truth from ``hidden_gt_file`` (``None``: none).

    Images that fail to load are replaced by another of the same aspect group
    (:mod:`ssod.datasets.bad_image_skip`) unless ``skip_bad_images=False``.

    Args:
        hidden_gt_file: COCO file with the boxes of (at least) every image of ``ann_file``.
        skip_bad_images: replace images that fail to load (default True: this is the unlabeled source).
        *args, **kwargs: as mmdet's ``CocoDataset``.
    """

    def __init__(self, *args, hidden_gt_file: Optional[str] = None, skip_bad_images: bool = True,
                 **kwargs) -> None:
        self.hidden_gt_file = hidden_gt_file
        self.skip_bad_images = bool(skip_bad_images)
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        if self.hidden_gt_file is None:
            return data_list
        path = self.hidden_gt_file
        if self.data_root and not osp.isabs(path):
            path = osp.join(self.data_root, path)
        hidden = load_hidden_gt(path, self.metainfo['classes'], backend_args=self.backend_args)
        attach_hidden_gt(data_list, hidden, path, ann_file=self.ann_file)
        return data_list
