"""The pseudo-label quality metric inside training: hidden GT changes no loss (same batch, and a whole
run of the synthetic config), the logged precision/recall are the matching counts of the teacher's
candidates against the hidden GT of the batch, and without hidden GT training runs unchanged."""
import copy
import os.path as osp
import uuid

import numpy as np
import pytest
import torch
import mmengine.config.config as mmengine_config_module
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.runner import Runner

import ssod  # noqa: F401
from ssod.evaluation import online_pseudo_quality
from ssod.evaluation.pseudo_label_quality import count_matches, sum_counts

from tests.models.detectors.semi_test_utils import build_semi, multi_batch, tiny_retinanet

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

SYNTHETIC_CONFIG = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                            'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')
QUALITY_KEYS = [f'train/pseudo/{m}_{s}' for s in ('initial', 'cls', 'reg') for m in ('precision', 'recall')]
# Thresholds at which a freshly initialised teacher already yields candidates at every stage.
LOW_THRESHOLDS = dict(pseudo_label_initial_score_thr=0.0, rpn_pseudo_thr=0.0, cls_pseudo_thr=0.0,
                      reg_pseudo_thr=1e9)


pytestmark = pytest.mark.usefixtures('single_torch_thread')


def fresh_hub():
    return MessageHub.get_instance(f'test_pseudo_quality_{uuid.uuid4().hex}')


def with_hidden_gt(samples):
    """The batch with hidden GT (original frame) on the teacher views: one box per class."""
    samples = copy.deepcopy(samples)
    for s in samples['unsup_teacher']:
        s.set_metainfo(dict(hidden_gt_bboxes=np.array([[4, 4, 30, 30], [20, 24, 60, 50], [0, 40, 20, 62]],
                                                      dtype=np.float32),
                            hidden_gt_labels=np.array([0, 1, 2])))
    return samples


def exact_losses(model, inputs, samples):
    torch.manual_seed(123)
    losses = model.loss(copy.deepcopy(inputs), copy.deepcopy(samples))
    return {k: [t.detach().clone() for t in v] if isinstance(v, list) else v.detach().clone()
            for k, v in losses.items()}


@pytest.mark.parametrize('detector', ['SoftTeacher', 'SemiBaseDetector'])
def test_hidden_gt_changes_no_loss_on_the_same_batch(detector):
    if detector == 'SoftTeacher':
        model = build_semi('SoftTeacher', **LOW_THRESHOLDS)
    else:
        model = build_semi('SemiBaseDetector', detector=tiny_retinanet(), cls_pseudo_thr=0.0)
    model.train()
    inputs, samples = multi_batch(num_sup=1, num_unsup=2)
    hub = fresh_hub()
    with_gt = exact_losses(model, inputs, with_hidden_gt(samples))
    logged = {k for k in hub.log_scalars if 'precision' in k or 'recall' in k}
    assert logged == {k for k in QUALITY_KEYS if detector == 'SoftTeacher' or '_reg' not in k}
    without_gt = exact_losses(model, inputs, samples)
    assert with_gt.keys() == without_gt.keys()
    for key in with_gt:
        a, b = with_gt[key], without_gt[key]
        for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            assert torch.equal(x, y), (key, x, y)  # bit for bit


# ---------------------------------------------------------------------------- the synthetic config
class Recorder(Hook):
    """Per iteration: the losses, the train/pseudo scalars, and what the quality logger was given."""

    def __init__(self):
        self.losses, self.scalars, self.calls = [], [], []

    def before_train(self, runner):
        quality = runner.model.pseudo_quality
        original = quality.log

        def spy(candidates, samples, cfg):
            self.calls.append((copy.deepcopy([c.cpu() for c in candidates]), copy.deepcopy(samples),
                               copy.deepcopy(cfg)))
            return original(candidates, samples, cfg)
        quality.log = spy

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append({k: float(torch.as_tensor(v).detach()) for k, v in outputs.items()})
        self.scalars.append({k: v.current() for k, v in runner.message_hub.log_scalars.items()
                             if k.startswith('train/pseudo/')})


def run_synthetic(data_root, work_dir, hidden_gt):
    cfg = Config.fromfile(SYNTHETIC_CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'pseudo_quality_{uuid.uuid4().hex}'
    cfg.randomness = dict(seed=0)
    cfg.train_dataloader.sampler.seed = 0
    for dataset in cfg.train_dataloader.dataset.datasets:
        dataset.data_root = data_root.rstrip('/') + '/'
    unlabeled = cfg.train_dataloader.dataset.datasets[1]
    assert unlabeled.type == 'CocoWithHiddenGT'
    assert unlabeled.hidden_gt_file == 'annotations/unlabeled-hidden-gt.json'
    if not hidden_gt:
        unlabeled.hidden_gt_file = None
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.train_cfg.pop('val_interval', None)
    cfg.default_hooks.checkpoint = None
    cfg.model.semi_train_cfg.update(LOW_THRESHOLDS)
    runner = Runner.from_cfg(cfg)
    recorder = Recorder()
    runner.register_hook(recorder, priority='LOWEST')
    runner.train()
    return recorder


@pytest.fixture(scope='module')
def runs(synthetic_data, tmp_path_factory):
    """Two 4-iteration runs, with and without hidden GT. The runner pretty-prints its config with yapf
    (log, dump, visualiser: over a minute on a busy 2-core machine); the text stays valid unformatted."""
    said = []
    original = online_pseudo_quality.print_log
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(online_pseudo_quality, 'print_log',
                      lambda msg, **kw: (said.append(msg), original(msg, **kw)))
        patch.setattr(mmengine_config_module, 'FormatCode', lambda text, **kw: (text, None))
        with_gt = run_synthetic(synthetic_data, tmp_path_factory.mktemp('with_gt'), hidden_gt=True)
        said_with_gt = list(said)
        without_gt = run_synthetic(synthetic_data, tmp_path_factory.mktemp('without_gt'), hidden_gt=False)
    return dict(with_gt=with_gt, without_gt=without_gt, said_with_gt=said_with_gt,
                said_without_gt=said[len(said_with_gt):])


def project(boxes, matrix, img_shape):
    """Corners through the homography, hull, clip to the view; boxes under 1 px dropped."""
    if len(boxes) == 0:
        return np.zeros((0, 4)), np.zeros((0,), dtype=bool)
    x1, y1, x2, y2 = boxes.T
    corners = np.stack([np.stack([x, y, np.ones_like(x)]) for x, y in
                        ((x1, y1), (x2, y1), (x1, y2), (x2, y2))])  # (4, 3, n)
    moved = np.einsum('ij,cjn->cin', np.asarray(matrix, dtype=np.float64), corners)
    xs, ys = moved[:, 0] / moved[:, 2], moved[:, 1] / moved[:, 2]
    h, w = img_shape[:2]
    out = np.stack([xs.min(0).clip(0, w), ys.min(0).clip(0, h), xs.max(0).clip(0, w),
                    ys.max(0).clip(0, h)], axis=1)
    keep = ((out[:, 2] - out[:, 0]) >= 1) & ((out[:, 3] - out[:, 1]) >= 1)
    return out, keep


def test_logged_precision_recall_are_those_of_the_batch(runs):
    record = runs['with_gt']
    assert len(record.calls) == len(record.scalars) == 4  # one unlabeled batch per iteration
    for (candidates, samples, cfg), logged in zip(record.calls, record.scalars):
        truths = []
        for s in samples:
            boxes, keep = project(s.hidden_gt_bboxes, s.homography_matrix, s.img_shape)
            truths.append((boxes[keep], s.hidden_gt_labels[keep]))
        assert logged['train/pseudo/gt_per_img'] == pytest.approx(
            sum(len(t[1]) for t in truths) / len(truths))
        assert sum(len(t[1]) for t in truths) > 0
        stages = dict(initial=lambda c: torch.ones_like(c.scores, dtype=torch.bool),
                      cls=lambda c: c.scores > cfg.cls_pseudo_thr,
                      reg=lambda c: (c.scores > cfg.cls_pseudo_thr)
                      & (c.reg_uncertainty < cfg.reg_pseudo_thr))
        for stage, mask_of in stages.items():
            counts = sum_counts(count_matches(c.bboxes[mask_of(c)], c.labels[mask_of(c)], t[0], t[1],
                                              pred_scores=c.scores[mask_of(c)])
                                for c, t in zip(candidates, truths))
            assert counts.num_predictions > 0
            assert logged[f'train/pseudo/precision_{stage}'] == pytest.approx(counts.precision)
            assert logged[f'train/pseudo/recall_{stage}'] == pytest.approx(counts.recall)
        labels = torch.cat([c.labels[c.scores > cfg.cls_pseudo_thr] for c in candidates])
        for label in range(3):
            assert logged[f'train/pseudo/cls_per_img/{label}'] == pytest.approx(
                int((labels == label).sum()) / len(candidates))
    assert not [m for m in runs['said_with_gt'] if 'not logged' in m]


def test_without_hidden_gt_training_is_unchanged_and_says_so_once(runs):
    with_gt, without_gt = runs['with_gt'], runs['without_gt']
    assert len(without_gt.losses) == 4
    assert without_gt.losses == with_gt.losses  # every loss of every iteration, exactly
    for logged in without_gt.scalars:
        assert not [k for k in logged if 'precision' in k or 'recall' in k or 'gt_per_img' in k]
        assert 'train/pseudo/cls_per_img/0' in logged
    assert len(runs['said_without_gt']) == 1 and 'not logged' in runs['said_without_gt'][0]
