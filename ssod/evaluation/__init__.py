"""Evaluation helpers of ssod: pseudo-label quality against hidden ground truth, and the online logger
of it during training (registered in ``TASK_UTILS`` as ``PseudoLabelQualityLogger``)."""
from . import online_pseudo_quality, pseudo_label_quality  # noqa: F401
from .online_pseudo_quality import PseudoLabelQualityLogger
from .pseudo_label_quality import (MatchCounts, box_iou, count_matches, count_matches_per_class,
                                   match_predictions, sum_counts)

__all__ = ['MatchCounts', 'PseudoLabelQualityLogger', 'box_iou', 'count_matches', 'count_matches_per_class',
           'match_predictions', 'online_pseudo_quality', 'pseudo_label_quality', 'sum_counts']
