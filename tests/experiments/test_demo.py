"""The demo's three phases (burn-in, Soft Teacher, control) on tiny synthetic data: both arms start from
byte-identical weights, the control never runs the teacher on unlabeled images, results are kept and
reused, and the report names control, teacher and student."""
import hashlib
import os

import pytest
import torch
from mmengine.hooks import Hook

from ssod.experiments import demo as demo_module
from ssod.experiments.demo import DemoResult, run_demo
from ssod.experiments.training_run import RESULT_FILE, RunResult
from tests.scripts import load_script

pytestmark = pytest.mark.usefixtures('single_torch_thread')

BURN_IN = 'configs/demo/faster_rcnn_lite0_tree_crowns_burn_in.py'
SEMI = 'configs/demo/soft_teacher_lite0_tree_crowns.py'
CONTROL = 'configs/demo/soft_teacher_lite0_tree_crowns_control.py'
CLASSES = ('ellipse', 'rectangle', 'triangle')


def synthetic_options(root, iters=2):
    """--cfg-options style overrides that point all three demo configs at the synthetic set (64 px)."""
    root = root.rstrip('/') + '/'
    options = {
        'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters,
        'default_hooks.checkpoint.interval': iters, 'default_hooks.logger.interval': 1,
        'val_evaluator.ann_file': root + 'annotations/val.json',
        'param_scheduler': [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=iters)],
        'metainfo.classes': CLASSES,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options.update({f'{loader}.num_workers': 0, f'{loader}.persistent_workers': False,
                        f'{loader}.batch_size': 4})
    return options


def patch_configs(monkeypatch, root, iters=2):
    """Every Config the demo loads gets the synthetic data: datasets' roots/classes and class count."""
    from mmengine.config import Config
    real = Config.fromfile

    def fromfile(path, *args, **kwargs):
        cfg = real(path, *args, **kwargs)
        cfg.merge_from_dict(synthetic_options(root, iters))
        loader = cfg.train_dataloader
        datasets = loader.dataset.datasets if 'datasets' in loader.dataset else [loader.dataset]
        for dataset in list(datasets) + [cfg.val_dataloader.dataset, cfg.test_dataloader.dataset]:
            dataset.data_root = root.rstrip('/') + '/'
            dataset.metainfo = dict(classes=CLASSES)
        if 'sampler' in loader and 'max_iters' in loader.sampler:
            loader.sampler.max_iters = iters
        if 'sampler' in loader and 'batch_size' in loader.sampler:  # one batch size for both
            loader.sampler.batch_size = loader.batch_size
        for hook in cfg.get('custom_hooks', []):  # ramp-ups end within the shortened run
            if isinstance(hook.get('schedule'), dict) and 'end' in hook.schedule:
                hook.schedule.end = iters
        model = cfg.model.get('detector', cfg.model)
        model.roi_head.bbox_head.num_classes = 3
        return cfg
    monkeypatch.setattr(Config, 'fromfile', staticmethod(fromfile))


class StartWeights(Hook):
    """Records a hash of every tensor of the model when training starts (after load_from)."""
    def __init__(self, store):
        self.store = store

    def before_train(self, runner):
        digest = hashlib.sha256()
        for name, tensor in sorted(runner.model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        self.store.append((runner.cfg.filename, digest.hexdigest()))


def test_demo_arms_start_from_identical_weights_and_report(synthetic_data, tmp_path, monkeypatch):
    patch_configs(monkeypatch, synthetic_data)
    starts = []
    from mmengine.runner import Runner
    real_from_cfg = Runner.from_cfg

    def from_cfg(cfg):
        runner = real_from_cfg(cfg)
        runner.register_hook(StartWeights(starts))
        return runner
    monkeypatch.setattr(Runner, 'from_cfg', staticmethod(from_cfg))

    result = run_demo(BURN_IN, SEMI, CONTROL, str(tmp_path / 'demo'), seed=0)
    assert [osp_name(f) for f, _ in starts] == ['faster_rcnn_lite0_tree_crowns_burn_in.py',
                                                'soft_teacher_lite0_tree_crowns.py',
                                                'soft_teacher_lite0_tree_crowns_control.py']
    assert starts[1][1] == starts[2][1]  # Soft Teacher and control: byte-identical start
    assert starts[0][1] != starts[1][1]  # ... which is the burn-in's end, not its start
    assert result.semi.iters == result.control.iters == 2
    for run in (result.semi, result.control):
        assert {'teacher/coco/bbox_mAP', 'student/coco/bbox_mAP'} <= set(run.metrics)
    lines = result.report()
    assert any('control (EMA' in line for line in lines)
    assert any('control (raw weights)' in line for line in lines)
    assert any(line.startswith('val bbox mAP teacher') for line in lines)
    assert any(line.startswith('val bbox mAP student') for line in lines)
    assert lines[-1].startswith('teacher - control:')

    # a second call reuses the kept results instead of training again
    starts.clear()
    again = run_demo(BURN_IN, SEMI, CONTROL, str(tmp_path / 'demo'), seed=0)
    assert starts == [] and again.semi.metrics == result.semi.metrics


def osp_name(path):
    import os.path as osp
    return osp.basename(path)


def test_control_never_runs_the_teacher_on_unlabeled_images(synthetic_data, tmp_path, monkeypatch):
    """The control config (unsup weight 0) trains with the Soft Teacher's sampler, but its unsup_*
    losses are all zero and no pseudo-label statistic is logged."""
    patch_configs(monkeypatch, synthetic_data)
    from ssod.models.detectors.soft_teacher import SoftTeacher
    calls = []
    real = SoftTeacher.unsup_losses
    monkeypatch.setattr(SoftTeacher, 'unsup_losses', lambda self, *a: calls.append(1) or real(self, *a))
    burn_in = demo_module.train_run(demo_module.Config.fromfile(BURN_IN), str(tmp_path / 'b'), 0, 'b')
    demo_module.train_run(demo_module.Config.fromfile(CONTROL), str(tmp_path / 'c'), 0, 'c',
                          load_from=burn_in.checkpoint)
    assert calls == []
    semi = demo_module.Config.fromfile(SEMI)
    semi.custom_hooks[1].schedule = 1.0  # no ramp: a nonzero weight from the first iteration
    demo_module.train_run(semi, str(tmp_path / 's'), 0, 's', load_from=burn_in.checkpoint)
    assert len(calls) >= 1  # the same configs with a nonzero weight do run it


def fake_run(name, teacher, student, teacher50=0.5, student50=0.4):
    return RunResult(name=name, metrics={'teacher/coco/bbox_mAP': teacher, 'teacher/coco/bbox_mAP_50': teacher50,
                                         'student/coco/bbox_mAP': student,
                                         'student/coco/bbox_mAP_50': student50,
                                         'coco/bbox_mAP': teacher, 'coco/bbox_mAP_50': teacher50},
                     checkpoint='x.pth', iters=10, sec_per_iter=1.5, seed=0)


def test_gain_is_teacher_minus_control_ema_in_points():
    result = DemoResult(burn_in=fake_run('b', 0.09, 0.09), semi=fake_run('s', 0.125, 0.1, 0.4),
                        control=fake_run('c', 0.1, 0.08, 0.35))
    gain = result.gain()
    assert gain['mAP'] == pytest.approx(2.5) and gain['mAP_50'] == pytest.approx(5.0)
    assert result.report()[-1] == 'teacher - control: +2.5 mAP points   +5.0 mAP@0.5 points'
    rows = result.rows()
    assert rows['control (raw weights)']['mAP'] == 0.08
    assert rows['student (Soft Teacher, raw weights)']['mAP'] == 0.1


def test_demo_without_data_says_how_to_make_it(tmp_path):
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, 'tools/demo.py', '--work-dir', str(tmp_path / 'demo'), '--cfg-options',
         f'train_dataloader.dataset.datasets.0.data_root={tmp_path}/nowhere/'],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert 'the demo data is missing' in proc.stderr and f'{tmp_path}/nowhere/' in proc.stderr
    assert 'python tools/data/prepare_tree_crowns.py --out data/tree_crowns' in proc.stderr
    assert not (tmp_path / 'demo').exists()


@pytest.mark.parametrize('kind', ['empty', 'malicious'])
def test_demo_reports_a_refused_burn_in_checkpoint_in_one_line(synthetic_data, tmp_path, monkeypatch,
                                                               capsys, kind):
    """The burn-in phase is kept (its result.json), but its checkpoint is now empty or unsafe: the Soft
    Teacher phase cannot start from it, and tools/demo.py says so in one line (no traceback)."""
    patch_configs(monkeypatch, synthetic_data)
    work_dir = tmp_path / 'demo'
    burn_in_dir = work_dir / demo_module.BURN_IN
    burn_in_dir.mkdir(parents=True)
    checkpoint = burn_in_dir / 'iter_2.pth'
    if kind == 'empty':
        checkpoint.write_bytes(b'')
    else:
        torch.save({'state_dict': {}, 'meta': {'hook': os.system}}, str(checkpoint))
    RunResult(name=demo_module.BURN_IN, metrics={'coco/bbox_mAP': 0.0}, checkpoint=str(checkpoint),
              iters=2, sec_per_iter=0.1, seed=0).save(str(burn_in_dir / RESULT_FILE))
    tool = load_script('tools/demo.py')
    assert tool.main(['--work-dir', str(work_dir)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    expected = (f'error: cannot load checkpoint {checkpoint}: it is empty' if kind == 'empty'
                else f'error: refused to load checkpoint {checkpoint} as unsafe: it references ')
    assert err.startswith(expected), err
