"""Datasets, samplers and COCO file helpers of ssod. Importing registers the samplers and data sets."""
from . import samplers, transforms  # noqa: F401
from .coco_with_hidden_gt import CocoWithHiddenGT  # noqa: F401
from .pseudo_labeled_coco import PseudoLabeledCocoDataset  # noqa: F401
