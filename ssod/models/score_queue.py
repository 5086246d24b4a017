"""``ScoreQueue``: per class, the most recent teacher scores, a fixed-length first-in first-out store.

The adaptive pseudo-label thresholds (:mod:`ssod.models.adaptive_thresholds`) are fitted to the
teacher's *recent* score distribution of each class: once a class's queue is full, every new score
replaces the oldest one of that class, so the fit follows the teacher as it improves.

The store is two buffers of the module, so it is saved in checkpoints and restored on resume (and
moves with the model between devices): ``scores`` ``(num_classes, size)`` float32 and ``written``
``(num_classes,)`` int64, the number of scores written per class (the next slot is ``written % size``;
while ``written < size`` the queue holds slots ``[0, written)``). Empty slots hold 0, never NaN, so a
checkpoint's finiteness check (:func:`ssod.engine.non_finite_guard.check_finite_weights`) passes.
"""
from typing import List

import torch
import torch.nn as nn
from torch import Tensor


class ScoreQueue(nn.Module):
    """Per-class FIFO of the last ``size`` scores.

    Args:
        num_classes: number of classes (labels ``0 .. num_classes - 1``).
        size: scores kept per class.
    """

    def __init__(self, num_classes: int, size: int) -> None:
        super().__init__()
        if int(num_classes) < 1 or int(size) < 1:
            raise ValueError(f'ScoreQueue needs num_classes >= 1 and size >= 1, got {num_classes}, {size}')
        self.num_classes, self.size = int(num_classes), int(size)
        self.register_buffer('scores', torch.zeros((self.num_classes, self.size)))
        self.register_buffer('written', torch.zeros((self.num_classes,), dtype=torch.long))

    @torch.no_grad()
    def push(self, scores: Tensor, labels: Tensor) -> List[int]:
        """Append ``scores`` ``(n,)`` to the queues of their ``labels`` ``(n,)``, in order (when a class
        gets more than ``size`` scores at once, its last ``size`` are kept). Returns the sorted classes
        that received scores."""
        scores, labels = scores.reshape(-1), labels.reshape(-1)
        if scores.shape != labels.shape:
            raise ValueError(f'ScoreQueue.push: {scores.numel()} scores but {labels.numel()} labels')
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f'ScoreQueue.push: labels must lie in [0, {self.num_classes}), got '
                             f'{int(labels.min())}..{int(labels.max())}')
        classes = sorted(torch.unique(labels).tolist())
        for label in classes:
            new = scores[labels == label][-self.size:].to(self.scores)
            start = int(self.written[label]) % self.size
            slots = (start + torch.arange(new.numel(), device=self.scores.device)) % self.size
            self.scores[label, slots] = new
            self.written[label] += new.numel()
        return classes

    def values(self, label: int) -> Tensor:
        """The scores held for class ``label`` (at most ``size``; slot order, not arrival order)."""
        return self.scores[label, :self.count(label)]

    def count(self, label: int) -> int:
        """How many scores class ``label`` holds (``min(written, size)``)."""
        return min(int(self.written[label]), self.size)

    def extra_repr(self) -> str:
        return f'num_classes={self.num_classes}, size={self.size}'
