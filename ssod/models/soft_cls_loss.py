"""Soft Teacher's background-weighted R-CNN classification loss (paper sec. 3.3, eq. 2-3).

For the RoIs sampled on an unlabeled image, RoI ``i`` gets the weight

* ``w_i = 1`` if it is assigned to a pseudo box (foreground), and
* ``w_i = r_i``, the **teacher's background probability** for the same box (mapped into the teacher
  view), if it is assigned to background,

and the loss is the weighted mean

    L_cls = sum_i w_i * CE_i / max(sum_i w_i, 1) = (sum_fg CE + sum_bg r * CE) / max(N_fg + sum_bg r, 1)

This is the normalisation of the microsoft/SoftTeacher code (``unsup_rcnn_cls_loss``), which its
maintainer confirmed is the intended one (issue #19): the paper's eq. 2-3 normalise the foreground term
by N_fg and the background term by sum r_j *separately*. mmdet 3.3 reaches the same value by rescaling
``BBoxHead.loss`` (which averages over the count of non-zero weights) by ``len(w) / max(sum w, 1)``.
"""
import torch
from torch import Tensor


def background_weights(labels: Tensor, label_weights: Tensor, background_prob: Tensor,
                       num_classes: int) -> Tensor:
    """Copy of ``label_weights`` with the entries of background RoIs (``label == num_classes``)
    replaced by ``background_prob`` (detached: the teacher's scores are targets, not trained)."""
    weights = label_weights.clone()
    negative = labels == num_classes
    weights[negative] = background_prob.detach().to(weights.dtype)[negative]
    return weights


def soft_weighted_cls_loss(loss_cls, cls_score: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """``sum_i w_i * loss_i / max(sum_i w_i, 1)`` with the head's own classification loss module
    ``loss_cls`` (e.g. mmdet's ``CrossEntropyLoss``; its ``loss_weight`` still applies).

    The floor of 1 on the denominator (as in the reference) keeps a batch of only near-certain
    background (all ``w`` ~ 0) from being blown up. With no RoIs at all it is a graph-connected 0.
    """
    avg_factor = max(float(weights.sum()), 1.0)
    if cls_score.numel() == 0:
        return cls_score.sum() * 0.0
    return loss_cls(cls_score, labels, weights, avg_factor=avg_factor)


def softmax_background_prob(cls_score: Tensor) -> Tensor:
    """Background probability ``(n,)`` of softmax R-CNN logits ``(n, num_classes + 1)`` (last column)."""
    return torch.softmax(cls_score, dim=-1)[:, -1]
