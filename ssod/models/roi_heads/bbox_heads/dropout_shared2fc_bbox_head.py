"""``DropoutShared2FCBBoxHead``: mmdet's ``Shared2FCBBoxHead`` with dropout after each shared fc.

Noisy Student (Xie et al., CVPR 2020, Sec. 2) noises the student's model with dropout (and stochastic
depth, see ``EfficientNetLite(drop_path_rate=...)``) so that it must generalise beyond the teacher. In a
Faster R-CNN the classifier's fully connected layers are the box head's two shared fcs; dropout of
probability ``dropout`` follows each one's ReLU, in training only (``nn.Dropout``: survivors are scaled
by ``1 / (1 - dropout)``, evaluation is the plain head). The parameters and their names are those of
``Shared2FCBBoxHead``, so checkpoints load both ways.
"""
from typing import Tuple

from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from torch import Tensor, nn

from ssod.registry import MODELS


@MODELS.register_module()
class DropoutShared2FCBBoxHead(Shared2FCBBoxHead):
    """``Shared2FCBBoxHead`` plus dropout after each shared fc's activation.

    Args:
        fc_out_channels: as ``Shared2FCBBoxHead``.
        dropout: drop probability in [0, 1) (0: exactly ``Shared2FCBBoxHead``).
        *args, **kwargs: as ``Shared2FCBBoxHead``.
    """

    def __init__(self, fc_out_channels: int = 1024, *args, dropout: float = 0.0, **kwargs) -> None:
        super().__init__(fc_out_channels, *args, **kwargs)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f'DropoutShared2FCBBoxHead: dropout must be in [0, 1), got {dropout!r}')
        self.dropout = float(dropout)
        self.shared_fc_dropout = nn.Dropout(self.dropout)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """RoI features -> (cls_score, bbox_pred), as ``ConvFCBBoxHead.forward`` for two shared fcs and no
        branch layers, with dropout after each shared fc's ReLU."""
        if self.with_avg_pool:
            x = self.avg_pool(x)
        x = x.flatten(1)
        for fc in self.shared_fcs:
            x = self.shared_fc_dropout(self.relu(fc(x)))
        cls_score = self.fc_cls(x) if self.with_cls else None
        bbox_pred = self.fc_reg(x) if self.with_reg else None
        return cls_score, bbox_pred
