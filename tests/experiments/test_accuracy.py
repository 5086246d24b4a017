"""Accuracy benchmark: run lengths scale every schedule, a split's data root reaches every dataset and
evaluator, the matrix runs every method from one burn-in checkpoint and keeps finished runs, and the
summary's numbers are the mean / std / gain of the rows."""
import math
import os.path as osp

import pytest
from mmengine.config import Config

from ssod.experiments import accuracy, self_training
from ssod.experiments.accuracy import (DataSpec, Profile, data_root_options, length_options,
                                       markdown_table, run_benchmark, summarize, write_outputs)
from ssod.experiments.self_training import pseudo_datasets

pytestmark = pytest.mark.usefixtures('single_torch_thread')
RUNS = ('burn_in', 'supervised', 'mean_teacher', 'soft_teacher', 'noisy_student')


def test_length_options_scale_schedules_and_ramps():
    cfg = Config.fromfile('configs/accuracy/synthetic/burn_in.py')  # 240 iterations, warm-up 50, step 192
    options = length_options(cfg, 120)
    assert options['train_cfg.max_iters'] == 120 and options['train_cfg.val_interval'] == 120
    assert options['default_hooks.checkpoint.interval'] == 120
    assert options['train_dataloader.sampler.max_iters'] == 120
    warmup, step = options['param_scheduler']
    assert (warmup['begin'], warmup['end']) == (0, 25)
    assert step['end'] == 120 and step['milestones'] == [96]
    semi = Config.fromfile('configs/accuracy/synthetic/soft_teacher.py')  # ramp over 30 of 150
    ramp = length_options(semi, 60)['custom_hooks'][1]['schedule']
    assert (ramp['begin'], ramp['end']) == (0, 12)


def test_data_root_reaches_every_dataset_and_evaluator():
    cfg = data_root_options(Config.fromfile('configs/accuracy/synthetic/soft_teacher.py'), 'data/elsewhere')
    labeled, unlabeled = cfg.train_dataloader.dataset.datasets
    assert labeled.data_root == unlabeled.data_root == 'data/elsewhere/'
    assert cfg.val_dataloader.dataset.data_root == cfg.test_dataloader.dataset.data_root == 'data/elsewhere/'
    assert cfg.val_evaluator.ann_file == 'data/elsewhere/annotations/val.json'
    # Noisy Student: the images to label and their hidden ground truth move with the data
    cfg = data_root_options(Config.fromfile('configs/accuracy/synthetic/noisy_student.py'), 'data/elsewhere')
    assert cfg.self_training.unlabeled_ann_file == 'data/elsewhere/annotations/unlabeled.json'
    assert cfg.self_training.hidden_gt_file == 'data/elsewhere/annotations/unlabeled-hidden-gt.json'
    assert cfg.self_training.teacher_config == 'configs/accuracy/synthetic/burn_in.py'


def test_summary_mean_std_and_gain():
    rows = [dict(data='d', method=m, seed=s, teacher_mAP=t, teacher_mAP_50=2 * t, student_mAP=t,
                 sec_per_iter=1.0, pseudo_precision_cls=float('nan'), pseudo_recall_cls=float('nan'))
            for m, s, t in (('supervised', 0, 0.10), ('supervised', 1, 0.12),
                            ('soft_teacher', 0, 0.14), ('soft_teacher', 1, 0.18))]
    summary = {e['method']: e for e in summarize(rows)}
    assert summary['supervised']['teacher_mAP'] == pytest.approx(0.11)
    assert summary['supervised']['teacher_mAP_std'] == pytest.approx(0.02 / 2 ** 0.5)
    assert summary['soft_teacher']['gain_points'] == pytest.approx(5.0)
    assert math.isnan(summary['soft_teacher']['pseudo_precision_cls'])
    table = markdown_table(list(summary.values()))
    assert '| d | soft_teacher | 2 | 0.160 ± 0.028 |' in table and '+5.0' in table


def test_matrix_runs_every_method_from_one_burn_in_and_keeps_results(synthetic_data, tmp_path, monkeypatch):
    trained = []
    real = accuracy.train_run
    real_config = accuracy._config

    def train_run(cfg, work_dir, seed, name, load_from=None, resume=False):
        cfg.merge_from_dict({f'{loader}.{key}': value for loader in ('train_dataloader', 'val_dataloader')
                             for key, value in (('num_workers', 0), ('persistent_workers', False),
                                                ('batch_size', 4))})
        cfg.train_dataloader.sampler.batch_size = 4
        if not osp.isfile(osp.join(work_dir, 'result.json')):
            trained.append((name, load_from))
        return real(cfg, work_dir, seed, name, load_from=load_from, resume=resume)

    def config(spec, run, iters=None):
        cfg = real_config(spec, run, iters)
        if run == 'noisy_student':  # 2-iteration teachers score low: keep their boxes from 0.05
            pseudo_datasets(cfg)[0].score_thr = 0.05
        return cfg
    monkeypatch.setattr(accuracy, 'train_run', train_run)
    monkeypatch.setattr(self_training, 'train_run', train_run)
    monkeypatch.setattr(accuracy, '_config', config)
    spec = DataSpec('synthetic', {r: f'configs/accuracy/synthetic/{r}.py' for r in RUNS},
                    data_root=synthetic_data)
    profile = Profile('test', burn_in_iters=2, arm_iters=2, seeds=(0,))
    rows = run_benchmark([spec], profile, str(tmp_path), log=lambda *_: None)
    assert [name for name, _ in trained] == ['synthetic_burn_in', 'synthetic_supervised',
                                             'synthetic_mean_teacher', 'synthetic_soft_teacher',
                                             'student_round1', 'student_round2']
    burn_in_checkpoint = str(tmp_path / 'synthetic' / 'seed0' / 'burn_in' / 'iter_2.pth')
    assert trained[0][1] is None and all(load == burn_in_checkpoint for _, load in trained[1:4])
    # Noisy Student: round 1 starts from the burn-in's teacher weights, round 2 from round 1's student
    rounds = tmp_path / 'synthetic' / 'seed0' / 'noisy_student'
    assert trained[4][1] == str(rounds / 'round1' / 'student_init.pth')
    assert trained[5][1] == str(rounds / 'round1' / 'student' / 'iter_2.pth')
    with open(rounds / 'round1' / 'teacher_config.py') as f:  # the labeller read the split's data
        assert synthetic_data in f.read()
    assert [r['method'] for r in rows] == ['supervised', 'mean_teacher', 'soft_teacher', 'noisy_student_r1',
                                           'noisy_student_r2']
    assert all(r['iters'] == 2 for r in rows)
    assert all(0.0 <= r['teacher_mAP'] <= 1.0 for r in rows[:3])
    assert all(r['teacher_mAP'] == r['student_mAP'] or math.isnan(r['teacher_mAP']) for r in rows[3:])
    assert all(0.0 <= r['pseudo_recall_cls'] <= 1.0 for r in rows[3:])

    trained.clear()
    again = run_benchmark([spec], profile, str(tmp_path), log=lambda *_: None)
    assert trained == [] and [r['seed'] for r in again] == [r['seed'] for r in rows]
    assert [r['teacher_mAP'] for r in again][:3] == [r['teacher_mAP'] for r in rows][:3]
    paths = write_outputs(rows, str(tmp_path / 'out'))
    assert all(osp.getsize(p) > 0 for p in paths.values())
    with open(paths['csv']) as f:
        assert len(f.read().strip().splitlines()) == 6


def test_pseudo_label_curves_read_the_scalar_file(tmp_path):
    folder = tmp_path / '20260101_000000' / 'vis_data'
    folder.mkdir(parents=True)
    (folder / 'scalars.json').write_text(
        '{"iter": 10, "pseudo/precision_cls": 0.5, "pseudo/recall_cls": 0.25, "lr": 0.1}\n'
        '{"iter": 20, "pseudo/precision_cls": 0.75, "pseudo/cls_per_img": 3}\n')
    curves = accuracy.pseudo_label_curves(str(tmp_path))
    assert curves == {'precision_cls': [(10, 0.5), (20, 0.75)], 'recall_cls': [(10, 0.25)]}
