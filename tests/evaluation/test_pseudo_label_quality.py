"""Hand-made boxes with known IoUs: matching counts, greedy order, class awareness, pooling."""
import pytest
import torch

from ssod.evaluation.pseudo_label_quality import (MatchCounts, box_iou, count_matches,
                                                  count_matches_per_class, match_predictions,
                                                  sum_counts)

# Two 10x10 objects far apart, class 0 and class 1.
GT_BOXES = torch.tensor([[0., 0., 10., 10.], [50., 50., 60., 60.]])
GT_LABELS = torch.tensor([0, 1])


def test_box_iou_known_values():
    a = torch.tensor([[0., 0., 10., 10.]])
    b = torch.tensor([[0., 0., 10., 10.], [5., 0., 15., 10.], [20., 20., 30., 30.], [0., 0., 0., 5.]])
    iou = box_iou(a, b)
    assert iou.shape == (1, 4)
    # identical, half-shifted (overlap 50 / union 150), disjoint, degenerate
    assert iou[0].tolist() == pytest.approx([1.0, 1 / 3, 0.0, 0.0])


def test_iou_threshold_is_inclusive():
    # overlap 10x5=50 in a union of 100: IoU exactly 0.5 -> match; 0.49 -> no match
    gt = torch.tensor([[0., 0., 10., 10.]])
    pred_half = torch.tensor([[0., 0., 10., 5.]])
    assert box_iou(pred_half, gt).item() == pytest.approx(0.5)
    assert count_matches(pred_half, [0], gt, [0]) == MatchCounts(1, 1, 1)
    pred_less = torch.tensor([[0., 0., 10., 4.9]])
    assert count_matches(pred_less, [0], gt, [0]) == MatchCounts(0, 1, 1)


def test_class_aware_matching():
    # Perfect box on object 0 but labelled as class 1 -> no true positive.
    counts = count_matches(torch.tensor([[0., 0., 10., 10.]]), torch.tensor([1]), GT_BOXES, GT_LABELS)
    assert counts == MatchCounts(true_positives=0, num_predictions=1, num_ground_truths=2)
    assert counts.precision == 0.0 and counts.recall == 0.0


def test_duplicates_count_once_and_greedy_by_score():
    # Two predictions on object 0: the low-scored one is better located, but the high score goes first.
    preds = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 8.], [50., 50., 60., 60.]])
    labels = torch.tensor([0, 0, 1])
    scores = torch.tensor([0.3, 0.9, 0.8])
    is_tp = match_predictions(preds, labels, GT_BOXES, GT_LABELS, pred_scores=scores)
    assert is_tp.tolist() == [False, True, True]
    # Without scores the given order decides: the first box wins.
    assert match_predictions(preds, labels, GT_BOXES, GT_LABELS).tolist() == [True, False, True]
    counts = count_matches(preds, labels, GT_BOXES, GT_LABELS, pred_scores=scores)
    assert counts == MatchCounts(2, 3, 2)
    assert counts.precision == pytest.approx(2 / 3) and counts.recall == 1.0


def test_prediction_takes_best_unmatched_gt():
    # Two class-0 objects side by side; pred A overlaps both (best: the right one), pred B only the left.
    gt = torch.tensor([[0., 0., 10., 10.], [4., 0., 14., 10.]])
    preds = torch.tensor([[3., 0., 13., 10.], [0., 0., 10., 10.]])
    is_tp = match_predictions(preds, [0, 0], gt, [0, 0], pred_scores=[0.9, 0.8])
    assert is_tp.tolist() == [True, True]


def test_empty_inputs():
    assert count_matches(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), GT_BOXES, GT_LABELS) == \
        MatchCounts(0, 0, 2)
    counts = count_matches(GT_BOXES, GT_LABELS, torch.zeros(0, 4), [])
    assert counts == MatchCounts(0, 2, 0)
    assert counts.recall is None and counts.precision == 0.0
    assert MatchCounts().precision is None


def test_pooling_over_images():
    image_a = count_matches(GT_BOXES, GT_LABELS, GT_BOXES, GT_LABELS)  # 2 / 2 / 2
    image_b = count_matches(torch.tensor([[100., 100., 110., 110.]]), [0], GT_BOXES, GT_LABELS)  # 0 / 1 / 2
    pooled = sum_counts([image_a, image_b])
    assert pooled == MatchCounts(2, 3, 4)
    assert pooled.precision == pytest.approx(2 / 3) and pooled.recall == pytest.approx(0.5)
    assert sum_counts([]) == MatchCounts(0, 0, 0)


def test_per_class_counts_sum_to_total():
    preds = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 9.], [70., 70., 80., 80.]])
    labels = torch.tensor([0, 0, 1])
    per_class = count_matches_per_class(preds, labels, GT_BOXES, GT_LABELS, classes=[0, 1, 2],
                                        pred_scores=[0.9, 0.8, 0.7])
    assert per_class[0] == MatchCounts(1, 2, 1)
    assert per_class[1] == MatchCounts(0, 1, 1)
    assert per_class[2] == MatchCounts(0, 0, 0)
    assert sum_counts(per_class.values()) == count_matches(preds, labels, GT_BOXES, GT_LABELS,
                                                           pred_scores=[0.9, 0.8, 0.7])


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match='pred_bboxes must have shape'):
        count_matches(torch.zeros(3, 5), [0, 0, 0], GT_BOXES, GT_LABELS)
    with pytest.raises(ValueError, match='gt_labels has 1 entries but there are 2 boxes'):
        count_matches(GT_BOXES, GT_LABELS, GT_BOXES, [0])
