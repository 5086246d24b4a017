"""``AdaptiveClassThresholds``: per-class pseudo-label thresholds that follow the teacher's scores.

The state a semi-supervised detector keeps for ``semi_train_cfg.adaptive_thr`` (keys and defaults in
:data:`DEFAULT_ADAPTIVE_THR`). Once per unlabeled batch, before any pseudo-label filter,
:meth:`AdaptiveClassThresholds.observe` is given the teacher's detections: the scores above
``score_floor`` go into their class's :class:`~ssod.models.score_queue.ScoreQueue` (``queue_size``
scores per class), and every class that received scores gets its threshold refitted from its queue
(:func:`~ssod.models.adaptive_thresholds.mixture_boundary`, clamped to ``[min_thr, max_thr]``). A class
without a trustworthy fit (fewer than ``min_count`` scores, a single cluster) uses the stage's fixed
threshold (``rpn_pseudo_thr`` / ``cls_pseudo_thr``). The thresholds of the stages in ``stages`` are then
per class (:meth:`AdaptiveClassThresholds.stage_thresholds`, read by
:func:`~ssod.models.pseudo_labels.stage_masks` at each box's label).

Queue, fitted thresholds and fit flags are buffers: they are saved in checkpoints and come back on
resume, so a resumed run continues with the same thresholds. With several processes, each rank's
scores are gathered from all ranks before they are queued (:func:`gather_from_ranks`), so every rank
holds the same queues and uses the same thresholds. That gathering is a collective operation: every
rank calls :meth:`AdaptiveClassThresholds.observe` once per iteration, a rank without unlabeled images
with no scores (the detector does so whenever ``unsup_weight`` is not 0).

A fit costs a few milliseconds per class (EM on at most ``queue_size`` scores, on the CPU); only the
classes seen in the batch are refitted, since the others' queues did not change.
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.distributed as torch_dist
import torch.nn as nn
from torch import Tensor

from .adaptive_thresholds import mixture_boundary
from .score_queue import ScoreQueue

#: Stages whose threshold can adapt: RPN and R-CNN classification pseudo boxes.
ADAPTIVE_STAGES = ('rpn', 'cls')
#: ``semi_train_cfg.adaptive_thr`` keys and their defaults (scores are probabilities; sizes in scores).
DEFAULT_ADAPTIVE_THR = dict(
    queue_size=1000,  # scores kept per class (the most recent ones)
    min_count=200,  # fewer queued scores: the class uses the fixed threshold
    min_thr=0.5,  # the adaptive threshold is clamped to [min_thr, max_thr]
    max_thr=0.95,
    stages=('cls', 'rpn'),  # which fixed thresholds become per-class adaptive ones
    score_floor=0.05,  # teacher scores <= this are not queued (the usual R-CNN test score_thr)
    min_separation=2.0,  # Ashman's D below which the two fitted components are one cluster
)


class AdaptiveClassThresholds(nn.Module):
    """Per-class thresholds from a two-component Gaussian mixture of each class's recent scores.

    Args:
        num_classes: the detector's number of classes.
        queue_size, min_count, min_thr, max_thr, stages, score_floor, min_separation: see
            :data:`DEFAULT_ADAPTIVE_THR`.
    """

    def __init__(self, num_classes: int, queue_size: int, min_count: int, min_thr: float, max_thr: float,
                 stages: Sequence[str], score_floor: float, min_separation: float) -> None:
        super().__init__()
        stages = tuple(stages)
        if not stages or any(s not in ADAPTIVE_STAGES for s in stages) or len(set(stages)) < len(stages):
            raise ValueError(f'adaptive_thr.stages must be a non-empty selection of {ADAPTIVE_STAGES}, '
                             f'got {stages!r}')
        if not 0.0 <= min_thr <= max_thr <= 1.0:
            raise ValueError(f'adaptive_thr: need 0 <= min_thr <= max_thr <= 1, got min_thr={min_thr}, '
                             f'max_thr={max_thr}')
        if not 2 <= int(min_count) <= int(queue_size):
            raise ValueError(f'adaptive_thr: need 2 <= min_count <= queue_size (a class needs min_count '
                             f'queued scores for a fit), got min_count={min_count}, queue_size={queue_size}')
        self.stages = stages
        self.min_count, self.min_thr, self.max_thr = int(min_count), float(min_thr), float(max_thr)
        self.score_floor, self.min_separation = float(score_floor), float(min_separation)
        self.queue = ScoreQueue(num_classes, queue_size)
        self.register_buffer('fitted_thr', torch.zeros((num_classes,)))
        self.register_buffer('fitted', torch.zeros((num_classes,), dtype=torch.bool))

    @property
    def num_classes(self) -> int:
        return self.queue.num_classes

    @torch.no_grad()
    def observe(self, scores: Tensor, labels: Tensor) -> List[int]:
        """Queue the scores ``> score_floor`` (of every rank) and refit the classes that got scores;
        returns those classes."""
        keep = scores > self.score_floor
        scores, labels = gather_from_ranks(scores[keep].float(), labels[keep].long())
        classes = self.queue.push(scores, labels)
        for label in classes:
            boundary = mixture_boundary(self.queue.values(label), min_count=self.min_count,
                                        min_separation=self.min_separation)
            self.fitted[label] = boundary is not None
            self.fitted_thr[label] = 0.0 if boundary is None else min(max(boundary, self.min_thr),
                                                                       self.max_thr)
        return classes

    def stage_thresholds(self, fixed: Mapping[str, float]) -> Dict[str, Tensor]:
        """``(num_classes,)`` threshold per class for each adaptive stage: the fitted one where the class
        has a fit, else ``fixed[stage]`` (the stage's configured threshold)."""
        return {stage: torch.where(self.fitted, self.fitted_thr,
                                   self.fitted_thr.new_tensor(float(fixed[stage])))
                for stage in self.stages}

    def extra_repr(self) -> str:
        return (f'stages={self.stages}, min_count={self.min_count}, min_thr={self.min_thr}, '
                f'max_thr={self.max_thr}, score_floor={self.score_floor}, '
                f'min_separation={self.min_separation}')


def build_adaptive_thresholds(cfg: Optional[Mapping], num_classes: Optional[int]
                              ) -> Optional[AdaptiveClassThresholds]:
    """The module of ``semi_train_cfg.adaptive_thr`` (``None`` -> ``None``: fixed thresholds).

    Unknown keys are an error naming the known ones; missing keys take :data:`DEFAULT_ADAPTIVE_THR`."""
    if cfg is None:
        return None
    given = dict(cfg)
    unknown = sorted(set(given) - set(DEFAULT_ADAPTIVE_THR))
    if unknown:
        raise ValueError(f'semi_train_cfg.adaptive_thr: unknown key(s) {unknown}; known keys: '
                         f'{sorted(DEFAULT_ADAPTIVE_THR)}')
    if num_classes is None:
        raise ValueError('semi_train_cfg.adaptive_thr needs the number of classes, but the detector '
                         "config's box head states no num_classes")
    return AdaptiveClassThresholds(num_classes, **{**DEFAULT_ADAPTIVE_THR, **given})


def gather_from_ranks(scores: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
    """The ``scores`` and ``labels`` of every process, concatenated in rank order (unchanged without
    an initialised process group of more than one process). Ranks may hold different numbers."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()) or torch_dist.get_world_size() < 2:
        return scores, labels
    world = torch_dist.get_world_size()
    count = torch.tensor([scores.numel()], device=scores.device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    torch_dist.all_gather(counts, count)
    counts = [int(c) for c in counts]
    longest = max(counts)
    # One message per rank: scores and labels (exact in float64 below 2**53) side by side, padded.
    packed = scores.new_zeros((longest, 2), dtype=torch.float64)
    packed[:scores.numel(), 0] = scores.double()
    packed[:scores.numel(), 1] = labels.double()
    parts = [torch.zeros_like(packed) for _ in range(world)]
    torch_dist.all_gather(parts, packed)
    rows = torch.cat([part[:n] for part, n in zip(parts, counts)])
    return rows[:, 0].to(scores.dtype), rows[:, 1].long()
