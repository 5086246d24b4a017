"""ScoreQueue: per-class first-in first-out order, capacity, bad labels, checkpoint round trip."""
import pytest
import torch

from ssod.models.score_queue import ScoreQueue


def held(queue, label):
    return sorted(queue.values(label).tolist())


def test_each_class_keeps_its_most_recent_scores():
    queue = ScoreQueue(num_classes=3, size=4)
    assert queue.push(torch.tensor([.1, .2, .3]), torch.tensor([0, 2, 0])) == [0, 2]
    assert held(queue, 0) == pytest.approx([.1, .3]) and queue.count(0) == 2
    assert held(queue, 1) == [] and queue.count(1) == 0
    # 4 more for class 0: the queue holds 4, so the two oldest (.1, .3) are dropped
    assert queue.push(torch.tensor([.4, .5, .6, .7]), torch.zeros(4, dtype=torch.long)) == [0]
    assert held(queue, 0) == pytest.approx([.4, .5, .6, .7])
    queue.push(torch.tensor([.8]), torch.tensor([0]))  # now .4 is the oldest
    assert held(queue, 0) == pytest.approx([.5, .6, .7, .8])
    assert held(queue, 2) == pytest.approx([.2])  # other classes untouched
    assert int(queue.written[0]) == 7 and queue.count(0) == 4


def test_more_scores_than_the_queue_holds_keep_the_last_ones():
    queue = ScoreQueue(num_classes=1, size=3)
    queue.push(torch.tensor([.9]), torch.tensor([0]))
    queue.push(torch.arange(1, 8) / 10, torch.zeros(7, dtype=torch.long))
    assert held(queue, 0) == pytest.approx([.5, .6, .7])
    assert queue.push(torch.zeros(0), torch.zeros(0, dtype=torch.long)) == []


def test_bad_labels_and_shapes_are_errors():
    queue = ScoreQueue(num_classes=2, size=3)
    with pytest.raises(ValueError, match=r'labels must lie in \[0, 2\)'):
        queue.push(torch.tensor([.5]), torch.tensor([2]))
    with pytest.raises(ValueError, match='2 scores but 1 labels'):
        queue.push(torch.tensor([.5, .6]), torch.tensor([0]))
    with pytest.raises(ValueError, match='size >= 1'):
        ScoreQueue(num_classes=2, size=0)


def test_state_dict_round_trip_restores_the_queue():
    queue = ScoreQueue(num_classes=2, size=3)
    queue.push(torch.tensor([.1, .2, .3, .4]), torch.tensor([0, 1, 0, 0]))
    assert set(queue.state_dict()) == {'scores', 'written'}
    restored = ScoreQueue(num_classes=2, size=3)
    restored.load_state_dict(queue.state_dict())
    for label in (0, 1):
        assert held(restored, label) == held(queue, label)
    restored.push(torch.tensor([.5]), torch.tensor([0]))  # continues where the saved queue stopped
    assert held(restored, 0) == pytest.approx([.3, .4, .5])
