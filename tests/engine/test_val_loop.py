"""SemiValLoop / SemiTestLoop: teacher and student evaluated in one run, keys teacher/... student/...,
predict_on restored, plain detectors unchanged, and CheckpointHook keeping the best of either model.

Unit tests use a fake teacher-student model whose 'detections' are a constant per model (teacher 0.8,
student 0.3) and a metric that averages them, so every metric value is known; the last test trains the
synthetic SoftTeacher config for real with the loop and ``save_best``.
"""
import glob
import logging
import os.path as osp
import uuid

import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

import ssod  # noqa: F401
from ssod.engine.val_loop import SemiTestLoop, SemiValLoop, predicting_with, with_model_suffix
from ssod.registry import LOOPS

SCORES = {'teacher': 0.8, 'student': 0.3}
NUM_SAMPLES = 6


class Constant(nn.Module):
    def __init__(self, score):
        super().__init__()
        self.score = score
        self.weight = nn.Parameter(torch.zeros(1))


class FakeTeacherStudent(BaseModel):
    """predict() returns the score of the model named by semi_test_cfg['predict_on']."""

    def __init__(self, fail_on=None):
        super().__init__()
        self.teacher = Constant(SCORES['teacher'])
        self.student = Constant(SCORES['student'])
        self.semi_test_cfg = dict(predict_on='teacher')
        self.fail_on = fail_on
        self.calls = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            return dict(loss=(self.student.weight - 1.0).pow(2).sum())
        name = self.semi_test_cfg['predict_on']
        self.calls.append(name)
        if name == self.fail_on:
            raise RuntimeError(f'{name} failed')
        model = getattr(self, name)
        return [dict(score=model.score + float(model.weight)) for _ in inputs]


class FakePlain(BaseModel):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            return dict(loss=(self.weight - 1.0).pow(2).sum())
        return [dict(score=0.5) for _ in inputs]


class MeanScore(BaseMetric):
    default_prefix = 'fake'

    def process(self, data_batch, data_samples):
        self.results += [s['score'] for s in data_samples]

    def compute_metrics(self, results):
        return dict(score=sum(results) / len(results), count=len(results))


def collate(batch):
    return dict(inputs=[b['inputs'] for b in batch], data_samples=None)


def loader():
    data = [dict(inputs=torch.zeros(1)) for _ in range(NUM_SAMPLES)]
    return DataLoader(data, batch_size=4, collate_fn=collate)


def runner_for(model, tmp_path, **kwargs):
    init_default_scope('ssod')
    return Runner(model=model, work_dir=str(tmp_path), experiment_name=f'val_loop_{uuid.uuid4().hex}',
                  default_scope='ssod', default_hooks=dict(logger=None, checkpoint=None), **kwargs)


class KeepMetrics(Hook):
    def __init__(self):
        self.seen = []

    def after_val_epoch(self, runner, metrics=None):
        self.seen.append(dict(metrics))

    def after_test_epoch(self, runner, metrics=None):
        self.seen.append(dict(metrics))


def val_runner(model, tmp_path, **loop_kwargs):
    runner = runner_for(model, tmp_path, val_dataloader=loader(),
                        val_evaluator=Evaluator(MeanScore()),
                        val_cfg=dict(type='SemiValLoop', **loop_kwargs))
    return runner


def test_loops_are_registered_in_ssod():
    assert LOOPS.get('SemiValLoop') is SemiValLoop and LOOPS.get('SemiTestLoop') is SemiTestLoop


def test_teacher_and_student_are_evaluated_with_prefixed_keys(tmp_path):
    model = FakeTeacherStudent()
    runner = val_runner(model, tmp_path)
    keep = KeepMetrics()
    runner.register_hook(keep)
    metrics = runner.val()
    assert metrics == pytest.approx({'teacher/fake/score': 0.8, 'teacher/fake/count': NUM_SAMPLES,
                                     'student/fake/score': 0.3, 'student/fake/count': NUM_SAMPLES})
    # One after_val_epoch call with all keys (what CheckpointHook and LoggerHook read).
    assert keep.seen == [metrics]
    # Two batches per pass, teacher first.
    assert model.calls == ['teacher', 'teacher', 'student', 'student']
    assert model.semi_test_cfg['predict_on'] == 'teacher'


def test_predict_on_is_restored_to_its_previous_value(tmp_path):
    model = FakeTeacherStudent()
    model.semi_test_cfg['predict_on'] = 'student'
    runner = val_runner(model, tmp_path)
    metrics = runner.val()
    assert metrics['teacher/fake/score'] == pytest.approx(0.8)
    assert model.semi_test_cfg['predict_on'] == 'student'


def test_predict_on_is_restored_when_evaluation_fails(tmp_path):
    model = FakeTeacherStudent(fail_on='student')
    runner = val_runner(model, tmp_path)
    with pytest.raises(RuntimeError, match='student failed'):
        runner.val()
    assert model.semi_test_cfg['predict_on'] == 'teacher'


def test_models_argument_selects_and_orders_the_passes(tmp_path):
    model = FakeTeacherStudent()
    metrics = val_runner(model, tmp_path, models=['student']).val()
    assert metrics == pytest.approx({'student/fake/score': 0.3, 'student/fake/count': NUM_SAMPLES})
    assert set(model.calls) == {'student'}


@pytest.mark.parametrize('models', [[], ['teacher', 'teacher'], ['ema']])
def test_bad_models_argument_is_an_error(tmp_path, models):
    runner = val_runner(FakeTeacherStudent(), tmp_path, models=models)
    with pytest.raises(ValueError, match='teacher'):
        runner.val()


def test_predicting_with_rejects_unknown_names():
    model = FakeTeacherStudent()
    with pytest.raises(ValueError, match="'ema'"):
        with predicting_with(model, 'ema'):
            pass
    assert model.semi_test_cfg['predict_on'] == 'teacher'


def test_plain_detector_behaves_like_mmengine_val_loop(tmp_path):
    runner = val_runner(FakePlain(), tmp_path)
    assert runner.val() == pytest.approx({'fake/score': 0.5, 'fake/count': NUM_SAMPLES})


def test_test_loop_writes_one_result_file_per_model(tmp_path):
    """With two models, a metric's out_file_path gets the model name; restored afterwards."""

    class Dump(MeanScore):
        def __init__(self, out_file_path):
            super().__init__()
            self.out_file_path = out_file_path

        def compute_metrics(self, results):
            with open(self.out_file_path, 'w') as f:
                f.write(','.join(f'{r:.1f}' for r in results))
            return {}

    out = str(tmp_path / 'results.pkl')
    dump = Dump(out)
    runner = runner_for(FakeTeacherStudent(), tmp_path, test_dataloader=loader(),
                        test_evaluator=Evaluator([MeanScore(), dump]),
                        test_cfg=dict(type='SemiTestLoop', models=['teacher', 'student']))
    metrics = runner.test()
    assert metrics['teacher/fake/score'] == pytest.approx(0.8)
    assert metrics['student/fake/score'] == pytest.approx(0.3)
    assert open(with_model_suffix(out, 'teacher')).read() == ','.join(['0.8'] * NUM_SAMPLES)
    assert open(with_model_suffix(out, 'student')).read() == ','.join(['0.3'] * NUM_SAMPLES)
    assert not osp.exists(out) and dump.out_file_path == out


class TrainingTeacher(FakeTeacherStudent):
    """The teacher's score follows the student's weight: 0.8 + w; trained towards w = 1."""


def test_checkpoint_hook_keeps_the_best_of_teacher_or_student(tmp_path):
    """Validation every iteration; scores rise with training, so the best checkpoint is the last."""
    model = TrainingTeacher()
    runner = runner_for(
        model, tmp_path,
        train_dataloader=dict(dataset=[dict(inputs=torch.zeros(1))] * 4, batch_size=2,
                              sampler=dict(type='InfiniteSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=3, val_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        val_dataloader=loader(), val_evaluator=Evaluator(MeanScore()),
        val_cfg=dict(type='SemiValLoop'))
    # The fake model's 'student' module has the weight; give the teacher the same one.
    model.teacher.weight = model.student.weight
    from mmengine.hooks import CheckpointHook
    runner.register_hook(CheckpointHook(interval=100, by_epoch=False,
                                        save_best=['teacher/fake/score', 'student/fake/score'],
                                        rule='greater'))
    keep = KeepMetrics()
    runner.register_hook(keep)
    runner.train()
    teacher_scores = [m['teacher/fake/score'] for m in keep.seen]
    assert len(teacher_scores) == 3 and teacher_scores == sorted(teacher_scores)
    assert teacher_scores[0] > 0.8
    best_teacher = glob.glob(osp.join(str(tmp_path), 'best_teacher_fake_score_iter_*.pth'))
    best_student = glob.glob(osp.join(str(tmp_path), 'best_student_fake_score_iter_*.pth'))
    assert [osp.basename(p) for p in best_teacher] == ['best_teacher_fake_score_iter_3.pth']
    assert [osp.basename(p) for p in best_student] == ['best_student_fake_score_iter_3.pth']


SYNTHETIC_CONFIG = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
                            'soft_teacher', 'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')


def test_synthetic_soft_teacher_keeps_the_best_teacher_and_student_checkpoints(synthetic_data, tmp_path,
                                                                               monkeypatch):
    """4 real training iterations, validation after 2 and 4 with CocoMetric: keys teacher/coco/... and
    student/coco/..., one best checkpoint per key at the iteration with the highest mAP."""
    import json

    import mmengine.config.config as mmengine_config
    from mmengine.config import Config
    # yapf formatting of the config dumps dominates a short run on a busy machine; skip it.
    monkeypatch.setattr(mmengine_config, 'FormatCode', lambda text, **kwargs: (text, False))
    init_default_scope('ssod')
    cfg = Config.fromfile(SYNTHETIC_CONFIG)
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = f'semi_val_{uuid.uuid4().hex}'
    # A visualizer of its own: an existing one (same name, from an earlier runner in this process)
    # would be reused, with its backends writing into that runner's folder.
    cfg.visualizer.name = f'visualizer_{cfg.experiment_name}'
    root = synthetic_data.rstrip('/') + '/'
    for dataset in cfg.train_dataloader.dataset.datasets:
        dataset.data_root = root
    cfg.val_dataloader.dataset.data_root = root
    cfg.val_evaluator.ann_file = root + 'annotations/val.json'
    cfg.val_cfg = dict(type='SemiValLoop')
    cfg.train_cfg.val_interval = 2
    # Keep every detection: a model without any box gets no CocoMetric keys at all.
    cfg.model.detector.test_cfg.rcnn.score_thr = 0.0
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=100,
                                        save_best=['teacher/coco/bbox_mAP', 'student/coco/bbox_mAP'],
                                        rule='greater')
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1, log_metric_by_epoch=False)
    runner = Runner.from_cfg(cfg)
    keep = KeepMetrics()
    runner.register_hook(keep)
    runner.train()

    assert len(keep.seen) == 2
    for metrics in keep.seen:
        for name in ('teacher', 'student'):
            assert 0.0 <= metrics[f'{name}/coco/bbox_mAP'] <= 1.0
            assert 0.0 <= metrics[f'{name}/coco/bbox_mAP_50'] <= 1.0
        assert not any(key.startswith('coco/') for key in metrics)
    assert runner.model.semi_test_cfg['predict_on'] == 'teacher'
    for name in ('teacher', 'student'):
        scores = [metrics[f'{name}/coco/bbox_mAP'] for metrics in keep.seen]
        best_iter = 2 if scores[0] >= scores[1] else 4  # ties keep the first
        found = glob.glob(osp.join(str(tmp_path), f'best_{name}_coco_bbox_mAP_iter_*.pth'))
        assert [osp.basename(p) for p in found] == [f'best_{name}_coco_bbox_mAP_iter_{best_iter}.pth']
    # Both keys reach the log backends (vis_data/scalars.json is what TensorBoard also receives).
    scalars = glob.glob(osp.join(str(tmp_path), '*', 'vis_data', 'scalars.json'))
    assert len(scalars) == 1
    with open(scalars[0]) as f:
        logged = [json.loads(line) for line in f if 'teacher/coco/bbox_mAP' in line]
    assert [entry['step'] for entry in logged] == [2, 4]
    assert all('student/coco/bbox_mAP' in entry for entry in logged)


class KeepLogMessages(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_a_model_without_metrics_is_reported(tmp_path):
    """CocoMetric returns {} for a model without detections: the loop says so (and keeps going)."""

    class EmptyForStudent(MeanScore):
        def compute_metrics(self, results):
            return {} if results[0] == SCORES['student'] else super().compute_metrics(results)

    runner = runner_for(FakeTeacherStudent(), tmp_path, val_dataloader=loader(),
                        val_evaluator=Evaluator(EmptyForStudent()), val_cfg=dict(type='SemiValLoop'))
    keep = KeepLogMessages()
    logger = MMLogger.get_current_instance()
    logger.addHandler(keep)
    try:
        metrics = runner.val()
    finally:
        logger.removeHandler(keep)
    assert metrics == pytest.approx({'teacher/fake/score': 0.8, 'teacher/fake/count': NUM_SAMPLES})
    assert 'SemiValLoop: the student gave no metrics (no detections?)' in keep.messages
