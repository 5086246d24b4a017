"""DropoutShared2FCBBoxHead: evaluation (and dropout 0) equal to Shared2FCBBoxHead with the same weights;
in training, dropout 0.5 zeroes about half of the shared features and doubles the survivors."""
import pytest
import torch
from mmengine.registry import init_default_scope

from ssod.registry import MODELS

HEAD = dict(in_channels=8, fc_out_channels=64, roi_feat_size=7, num_classes=3)


def build(type_, **extra):
    init_default_scope('ssod')
    return MODELS.build(dict(type=type_, **HEAD, **extra))


def pair(dropout):
    torch.manual_seed(0)
    ours = build('DropoutShared2FCBBoxHead', dropout=dropout)
    plain = build('Shared2FCBBoxHead')
    plain.init_weights()
    # the same parameter names: a Shared2FCBBoxHead state dict loads strictly
    ours.load_state_dict(plain.state_dict(), strict=True)
    return ours, plain


def rois(n=256):
    return torch.randn(n, 8, 7, 7, generator=torch.Generator().manual_seed(1))


def test_eval_output_equals_shared2fc():
    ours, plain = pair(0.5)
    x = rois()
    cls_ours, reg_ours = ours.eval()(x)
    cls_plain, reg_plain = plain.eval()(x)
    assert torch.equal(cls_ours, cls_plain) and torch.equal(reg_ours, reg_plain)
    assert cls_ours.shape == (256, 4) and reg_ours.shape == (256, 12)


def test_dropout_zero_equals_shared2fc_in_training():
    ours, plain = pair(0.0)
    x = rois()
    for got, want in zip(ours.train()(x), plain.train()(x)):
        assert torch.equal(got, want)


def test_training_drops_half_of_the_shared_features_and_scales_the_rest():
    ours, plain = pair(0.5)
    seen = []
    ours.shared_fc_dropout.register_forward_hook(lambda _m, args, out: seen.append((args[0], out)))
    ours.train()
    torch.manual_seed(2)
    cls_train, _ = ours(rois(1024))
    assert len(seen) == 2  # after each of the two shared fcs
    for before, after in seen:
        active = before != 0  # ReLU zeros are not dropout's
        dropped = (after == 0) & active
        fraction = dropped.sum().item() / active.sum().item()
        assert active.sum().item() > 10000
        assert fraction == pytest.approx(0.5, abs=0.02)
        kept = active & ~dropped
        assert torch.allclose(after[kept], 2 * before[kept])
    assert not torch.allclose(cls_train, plain.train()(rois(1024))[0])


@pytest.mark.parametrize('dropout', [-0.1, 1.0, True])
def test_bad_dropout_is_refused(dropout):
    with pytest.raises(ValueError, match='dropout must be in'):
        build('DropoutShared2FCBBoxHead', dropout=dropout)
