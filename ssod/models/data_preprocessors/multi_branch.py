"""``MultiBranchDataPreprocessor`` (ssod scope): mmdet's, plus batches in which a branch is empty.

mmdet's ``MultiBranchDataPreprocessor`` drops the ``None`` entries of every branch and then stacks each
branch; a branch with no image left (a batch without labeled images once the labeled fraction has
decayed to 0, or without unlabeled images) fails in ``stack_batch`` ("`tensor_list` could not be an
empty list"). This subclass leaves such a branch **out** of ``inputs`` and ``data_samples``; the
semi-supervised detectors treat an absent branch as empty and return zero losses for it.

Registered under the same name in the ``ssod`` registry, so configs with ``default_scope='ssod'`` get it
from ``type='MultiBranchDataPreprocessor'`` without changes; with the ``mmdet`` scope mmdet's is used.
Evaluation data (``training=False``) goes straight to the wrapped preprocessor, as in mmdet.
"""
from mmdet.models.data_preprocessors import \
    MultiBranchDataPreprocessor as MMDetMultiBranchDataPreprocessor

from ssod.registry import MODELS


@MODELS.register_module()
class MultiBranchDataPreprocessor(MMDetMultiBranchDataPreprocessor):
    """Preprocess each branch of a multi-branch batch separately; skip branches without samples."""

    def forward(self, data: dict, training: bool = False) -> dict:
        if not training:
            return self.data_preprocessor(data, training)
        kept = {key: {} for key in data}
        for key, branches in data.items():
            for branch, values in branches.items():
                kept[key][branch] = [v for v in values if v is not None]
        non_empty = [branch for branch, values in kept['inputs'].items() if values]
        out = {key: {} for key in kept}
        for branch in non_empty:
            processed = self.data_preprocessor({key: kept[key][branch] for key in kept}, training)
            for key, value in processed.items():
                out.setdefault(key, {})[branch] = value
        return out
