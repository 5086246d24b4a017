"""Counts and precision/recall of a pseudo-label file at a score threshold, against hidden ground truth."""
import json

import pytest

from ssod.evaluation.pseudo_label_file import pseudo_label_counts, pseudo_label_quality

CATEGORIES = [{'id': 7, 'name': 'cat'}, {'id': 9, 'name': 'dog'}]


def write(path, images, annotations, categories=CATEGORIES):
    with open(path, 'w') as f:
        json.dump({'images': images, 'annotations': annotations, 'categories': categories}, f)
    return str(path)


def ann(ann_id, image_id, category_id, bbox, score=None):
    record = {'id': ann_id, 'image_id': image_id, 'category_id': category_id, 'bbox': bbox,
              'area': bbox[2] * bbox[3], 'iscrowd': 0}
    if score is not None:
        record['score'] = score
    return record


@pytest.fixture
def files(tmp_path):
    images = [{'id': 1, 'file_name': 'a.png', 'width': 100, 'height': 100},
              {'id': 2, 'file_name': 'b.png', 'width': 100, 'height': 100},
              {'id': 3, 'file_name': 'c.png', 'width': 100, 'height': 100}]
    pseudo = write(tmp_path / 'pseudo.json', images, [
        ann(1, 1, 7, [10, 10, 20, 20], 0.9),   # TP (cat on cat)
        ann(2, 1, 9, [10, 10, 20, 20], 0.8),   # FP: wrong class
        ann(3, 1, 7, [60, 60, 10, 10], 0.3),   # below 0.5
        ann(4, 2, 9, [0, 0, 50, 50], 0.95),    # TP (dog)
        ann(5, 2, 9, [1, 1, 50, 50], 0.6),     # duplicate of the same dog: FP
    ])
    # The hidden ground truth names the classes the other way round (ids differ, names match).
    hidden = write(tmp_path / 'hidden.json', images, [
        ann(1, 1, 2, [10, 10, 20, 20]), ann(2, 2, 1, [0, 0, 50, 50]), ann(3, 3, 2, [5, 5, 30, 30]),
        ann(4, 3, 2, [50, 50, 30, 30])], categories=[{'id': 1, 'name': 'dog'}, {'id': 2, 'name': 'cat'}])
    return pseudo, hidden


def test_counts_at_a_threshold(files):
    pseudo, _ = files
    assert pseudo_label_counts(pseudo, 0.5) == (2, 4)
    assert pseudo_label_counts(pseudo, 0.0) == (2, 5)
    assert pseudo_label_counts(pseudo, 0.91) == (1, 1)
    assert pseudo_label_counts(pseudo, 0.99) == (0, 0)


def test_precision_and_recall_match_by_name_and_pool_images(files):
    pseudo, hidden = files
    precision, recall = pseudo_label_quality(pseudo, hidden, ('cat', 'dog'), 0.5)
    assert precision == pytest.approx(2 / 4)
    assert recall == pytest.approx(2 / 4)  # image 3 has two trees of ground truth and no prediction
    precision, recall = pseudo_label_quality(pseudo, hidden, ('cat', 'dog'), 0.85)
    assert precision == pytest.approx(2 / 2) and recall == pytest.approx(2 / 4)
    assert pseudo_label_quality(pseudo, hidden, ('cat', 'dog'), 0.99) == (None, 0.0)


def test_hidden_gt_must_cover_the_labeled_images(files, tmp_path):
    pseudo, _ = files
    partial = write(tmp_path / 'partial.json', [{'id': 1, 'file_name': 'a.png', 'width': 100, 'height': 100}],
                    [], categories=CATEGORIES)
    with pytest.raises(ValueError, match='has no image with id 2'):
        pseudo_label_quality(pseudo, partial, ('cat', 'dog'), 0.5)
