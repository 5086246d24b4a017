"""Noisy Student's class balancing of pseudo-labeled images (Xie et al., CVPR 2020, Sec. 3).

The paper balances the pseudo-labeled data per class: for each class it keeps the images the teacher is
most confident about and duplicates the images of classes that have too few. Applied to detection, an
image "of class c" is one holding at least one pseudo box of class c, and its confidence for c is the
highest score among those boxes.

Pure functions of the scores; :class:`~ssod.datasets.pseudo_labeled_coco.PseudoLabeledCocoDataset`
builds its data list from :func:`class_balanced_selection`.
"""
from typing import Dict, List, Mapping, Sequence


def best_score_per_class(labels: Sequence[int], scores: Sequence[float]) -> Dict[int, float]:
    """``{class index: highest score of the boxes of that class}`` of one image (classes without boxes are
    absent)."""
    best: Dict[int, float] = {}
    for label, score in zip(labels, scores):
        label, score = int(label), float(score)
        if label not in best or score > best[label]:
            best[label] = score
    return best


def class_balanced_selection(best_scores: Sequence[Mapping[int, float]], image_ids: Sequence[int],
                             num_classes: int, images_per_class: int) -> List[List[int]]:
    """Per class, the positions (into ``best_scores``) of the images selected for it.

    For each class ``c`` in ``0..num_classes-1``: ``I_c`` = the images whose ``best_scores`` hold ``c``,
    sorted by that score, highest first, ties by ascending image id. If ``|I_c| >= images_per_class`` the
    first ``images_per_class`` are taken; if ``0 < |I_c| < images_per_class``, ``I_c`` is repeated in order
    until ``images_per_class`` entries; a class without images gets none.

    Args:
        best_scores: per image, ``{class index: its highest box score of that class}``
            (:func:`best_score_per_class`).
        image_ids: per image, its id (the tie-break).
        num_classes: number of classes.
        images_per_class: ``K``, the entries per class (>= 1).

    Returns:
        ``num_classes`` lists of positions; an image selected for two classes appears in both.
    """
    if len(best_scores) != len(image_ids):
        raise ValueError(f'class_balanced_selection: {len(best_scores)} score maps for '
                         f'{len(image_ids)} image ids')
    if int(images_per_class) < 1:
        raise ValueError(f'class_balanced_selection: images_per_class must be >= 1, got {images_per_class}')
    k = int(images_per_class)
    selection = []
    for c in range(num_classes):
        holders = [i for i, scores in enumerate(best_scores) if c in scores]
        holders.sort(key=lambda i: (-best_scores[i][c], image_ids[i]))
        if len(holders) >= k:
            selection.append(holders[:k])
        elif holders:
            selection.append([holders[j % len(holders)] for j in range(k)])
        else:
            selection.append([])
    return selection
