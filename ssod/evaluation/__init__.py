"""Evaluation helpers of ssod: pseudo-label quality against hidden ground truth."""
from . import pseudo_label_quality  # noqa: F401
from .pseudo_label_quality import (MatchCounts, box_iou, count_matches, count_matches_per_class,
                                   match_predictions, sum_counts)

__all__ = ['MatchCounts', 'box_iou', 'count_matches', 'count_matches_per_class', 'match_predictions',
           'pseudo_label_quality', 'sum_counts']
