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
        out = {key: {} for key in data}
        for branch in data['inputs']:
            branch_data = {key: [v for v in data[key][branch] if v is not None] for key in data}
            if not branch_data['inputs']:
                continue
            for key, value in self.data_preprocessor(branch_data, training).items():
                out.setdefault(key, {})[branch] = value
        return out
