"""Noisy Student class balancing: top-K per class by the image's best score of that class, ties by image
id, classes with fewer images repeated in order up to K, classes without images empty."""
import pytest

from ssod.datasets.class_balance import best_score_per_class, class_balanced_selection


def test_best_score_per_class_takes_the_highest_box_of_each_class():
    assert best_score_per_class([0, 2, 0, 2], [0.6, 0.7, 0.9, 0.55]) == {0: 0.9, 2: 0.7}
    assert best_score_per_class([], []) == {}


def test_selection_top_k_repeat_and_empty():
    #                image ids:   10         11                  12         13         14
    best = [{0: 0.9}, {0: 0.8, 1: 0.6}, {0: 0.95}, {0: 0.5}, {1: 0.7}]
    ids = [10, 11, 12, 13, 14]
    selection = class_balanced_selection(best, ids, num_classes=3, images_per_class=3)
    assert selection == [
        [2, 0, 1],  # class 0: 0.95 (12), 0.9 (10), 0.8 (11); 0.5 (13) is left out
        [4, 1, 4],  # class 1: 0.7 (14), 0.6 (11), then repeated in order
        [],  # class 2: no image
    ]
    assert class_balanced_selection(best, ids, num_classes=2, images_per_class=1) == [[2], [4]]
    assert class_balanced_selection(best, ids, num_classes=2, images_per_class=5) == [
        [2, 0, 1, 3, 2], [4, 1, 4, 1, 4]]


def test_ties_are_broken_by_image_id_not_by_position():
    best = [{0: 0.8}, {0: 0.8}, {0: 0.8}]
    assert class_balanced_selection(best, [7, 3, 5], 1, 2) == [[1, 2]]


def test_bad_arguments():
    with pytest.raises(ValueError, match='images_per_class'):
        class_balanced_selection([{0: 1.0}], [1], 1, 0)
    with pytest.raises(ValueError, match='1 score maps for 2 image ids'):
        class_balanced_selection([{0: 1.0}], [1, 2], 1, 1)
