"""ssod.models.flip_merge: mirroring boxes back and merging the two views with class-wise NMS, on
hand-made boxes whose IoUs are worked out below."""
import torch

from ssod.models.flip_merge import merge_flip_detections, mirror_boxes

WIDTH = 100.0


def detections(rows):
    """(bboxes, scores, labels) from rows (x1, y1, x2, y2, score, label)."""
    table = torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)
    return table[:, :4], table[:, 4], table[:, 5].long()


def test_mirror_maps_x_to_width_minus_x_and_is_its_own_inverse():
    boxes = torch.tensor([[10., 5., 30., 25.], [0., 0., 100., 50.], [90., 1., 100., 2.]])
    expected = torch.tensor([[70., 5., 90., 25.], [0., 0., 100., 50.], [0., 1., 10., 2.]])
    assert torch.equal(mirror_boxes(boxes, WIDTH), expected)
    assert torch.equal(mirror_boxes(mirror_boxes(boxes, WIDTH), WIDTH), boxes)


def test_merge_keeps_the_best_box_per_class_and_overlap():
    direct = detections([
        (10, 10, 30, 30, 0.9, 0),  # A
        (50, 50, 70, 70, 0.4, 1),  # B: the mirror's C covers it exactly (IoU 1) with a higher score
        (10, 12, 30, 32, 0.3, 0),  # IoU with A = 360 / 440 = 0.82 > 0.5: removed
        (20, 10, 40, 30, 0.35, 0),  # IoU with A = 200 / 600 = 0.33: kept
    ])
    mirrored = detections([  # in the mirror's pixels; back in the image: x -> 100 - x
        (70, 10, 90, 30, 0.8, 0),  # = A's box, lower score: removed
        (30, 50, 50, 70, 0.6, 1),  # C = B's box, higher score: kept, B removed
        (70, 10, 90, 30, 0.7, 2),  # A's box but another class: kept
        (0, 0, 20, 20, 0.5, 0),  # -> (80, 0, 100, 20), overlaps nothing: kept
    ])
    bboxes, scores, labels = merge_flip_detections(direct, mirrored, WIDTH, iou_threshold=0.5)
    assert torch.equal(bboxes, torch.tensor([[10., 10., 30., 30.], [10., 10., 30., 30.],
                                             [50., 50., 70., 70.], [80., 0., 100., 20.],
                                             [20., 10., 40., 30.]]))
    assert torch.allclose(scores, torch.tensor([0.9, 0.7, 0.6, 0.5, 0.35]))
    assert labels.tolist() == [0, 2, 1, 0, 0]

    # max_per_img keeps the highest scores; a looser threshold keeps the 0.82-IoU box too.
    assert merge_flip_detections(direct, mirrored, WIDTH, 0.5, max_per_img=3)[1].tolist() == \
        scores[:3].tolist()
    loose = merge_flip_detections(direct, mirrored, WIDTH, iou_threshold=0.9)
    assert torch.allclose(loose[1], torch.tensor([0.9, 0.7, 0.6, 0.5, 0.35, 0.3]))


def test_merge_of_empty_sets():
    empty = detections([])
    bboxes, scores, labels = merge_flip_detections(empty, empty, WIDTH)
    assert bboxes.shape == (0, 4) and scores.shape == (0, ) and labels.shape == (0, )
    one = detections([(0, 0, 20, 20, 0.5, 1)])
    bboxes, scores, labels = merge_flip_detections(empty, one, WIDTH)
    assert bboxes.tolist() == [[80., 0., 100., 20.]] and labels.tolist() == [1]
