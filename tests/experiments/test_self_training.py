"""Self-training (Noisy Student) rounds on tiny synthetic data: round 0 trains the teacher, each round labels
the unlabeled images with the last model and trains a student from it; records and the table hold the
numbers of the files; finished rounds and runs are kept; bad sections are refused with their key named."""
import json
import math
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from ssod.apis.config_checks import ConfigError
from ssod.experiments import self_training
from ssod.experiments.accuracy import data_root_options, length_options
from ssod.experiments.self_training import (ROUND_FILE, SelfTrainingSpec, markdown_table, pseudo_datasets,
                                            run_self_training, student_config)
from ssod.evaluation.pseudo_label_file import pseudo_label_counts
from ssod.experiments.training_run import RunResult
from tests.scripts import load_script

pytestmark = pytest.mark.usefixtures('single_torch_thread')
CONFIG = 'configs/noisy_student/noisy_student_lite0_synthetic.py'


def tiny(root):
    """Every training config at 2 iterations, 4 images per batch, no loader workers, on ``root``."""
    def adjust(cfg):
        data_root_options(cfg, root)
        cfg.merge_from_dict(length_options(cfg, 2))
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg.merge_from_dict({f'{loader}.num_workers': 0, f'{loader}.persistent_workers': False,
                                 f'{loader}.batch_size': 4})
        cfg.train_dataloader.sampler.batch_size = 4
        return cfg
    return adjust


def student_cfg(root, score_thr=0.05):
    """The synthetic Noisy Student config on ``root``; tiny models after 2 iterations score low, so the
    pseudo boxes are kept from 0.05."""
    cfg = data_root_options(Config.fromfile(CONFIG), root)
    pseudo_datasets(cfg)[0].score_thr = score_thr
    return cfg


def test_spec_is_checked():
    cfg = Config(dict(self_training=dict(teacher_config='t.py', unlabeled_ann_file='u.json', typo=1)))
    with pytest.raises(ConfigError, match=r"unknown keys \['typo'\]"):
        SelfTrainingSpec.from_config(cfg)
    with pytest.raises(ConfigError, match='self_training.unlabeled_ann_file is missing'):
        SelfTrainingSpec.from_config(Config(dict(self_training=dict(teacher_config='t.py'))))
    with pytest.raises(ConfigError, match='has no self_training section'):
        SelfTrainingSpec.from_config(Config(dict(model=dict())))
    bad = Config(dict(self_training=dict(teacher_config='t', unlabeled_ann_file='u', student_init='x')))
    with pytest.raises(ConfigError, match="student_init='x'"):
        SelfTrainingSpec.from_config(bad)


def test_student_config_reads_the_rounds_file(tmp_path):
    cfg = Config.fromfile(CONFIG)
    round_cfg = student_config(cfg, str(tmp_path / 'pseudo.json'))
    (node, ) = pseudo_datasets(round_cfg)
    assert node.ann_file == str(tmp_path / 'pseudo.json') and 'self_training' not in round_cfg
    assert pseudo_datasets(cfg)[0].ann_file == 'annotations/pseudo_labels.json'  # the input is not changed
    with pytest.raises(ConfigError, match='no PseudoLabeledCocoDataset'):
        student_config(Config.fromfile('configs/accuracy/synthetic/burn_in.py'), 'x.json')


def test_two_rounds_then_nothing_is_trained_again(synthetic_data, tmp_path, monkeypatch):
    trained = []
    real = self_training.train_run

    def counting_train_run(cfg, work_dir, seed, name, load_from=None, resume=False):
        if not osp.isfile(osp.join(work_dir, 'result.json')):
            trained.append((name, load_from))
        return real(cfg, work_dir, seed, name, load_from=load_from, resume=resume)
    monkeypatch.setattr(self_training, 'train_run', counting_train_run)
    work_dir = str(tmp_path / 'ns')
    lines = []
    records = run_self_training(student_cfg(synthetic_data), 2, work_dir, seed=0, adjust=tiny(synthetic_data),
                                log=lines.append)

    teacher = osp.join(work_dir, 'round0', 'teacher', 'iter_2.pth')
    assert [name for name, _ in trained] == ['teacher', 'student_round1', 'student_round2']
    # round 1 starts from the teacher's EMA weights (a teacher-student burn-in), round 2 from round 1's student
    init1 = osp.join(work_dir, 'round1', 'student_init.pth')
    assert trained[1][1] == init1 and trained[2][1] == records[0].checkpoint
    burn_in = torch.load(teacher, map_location='cpu', weights_only=False)['state_dict']
    converted = torch.load(init1, map_location='cpu', weights_only=True)['state_dict']
    assert set(converted) == {k[len('teacher.'):] for k in burn_in if k.startswith('teacher.')}
    assert all(torch.equal(v, burn_in['teacher.' + k]) for k, v in converted.items())

    assert [r.round for r in records] == [1, 2]
    assert records[0].teacher_checkpoint == teacher and records[1].teacher_checkpoint == records[0].checkpoint
    for record in records:
        assert osp.isfile(record.pseudo_label_file)
        with open(record.pseudo_label_file) as f:
            labels = json.load(f)
        assert all(a['score'] >= 0.05 for a in labels['annotations'])
        assert (record.pseudo_images, record.pseudo_boxes) == pseudo_label_counts(record.pseudo_label_file, 0.05)
        assert record.pseudo_boxes > 0
        student = RunResult.load(osp.join(osp.dirname(record.checkpoint), 'result.json'))
        assert record.metrics == student.metrics and record.iters == 2
        # (a 2-iteration student may detect nothing on val; COCO metrics are then absent and mAP is nan)
        assert math.isnan(record.mAP) or 0.0 <= record.mAP <= 1.0
        assert record.pseudo_recall is not None  # the synthetic unlabeled images have hidden ground truth
    table = markdown_table(records)
    assert f'| 1 | {records[0].pseudo_boxes} ({records[0].pseudo_images}) |' in table
    assert f'| 2 | {records[1].pseudo_boxes} ({records[1].pseudo_images}) |' in table

    trained.clear()
    again = run_self_training(student_cfg(synthetic_data), 2, work_dir, seed=0, adjust=tiny(synthetic_data),
                              log=lines.append)
    assert trained == [] and [r.checkpoint for r in again] == [r.checkpoint for r in records]
    # a round killed after its student finished, before its record: nothing is trained or labelled again
    record_path = osp.join(work_dir, 'round2', ROUND_FILE)
    mtime = osp.getmtime(records[1].pseudo_label_file)
    os.remove(record_path)
    third = run_self_training(student_cfg(synthetic_data), 2, work_dir, seed=0, adjust=tiny(synthetic_data),
                              log=lines.append)
    assert trained == [] and osp.isfile(record_path) and third[1].metrics == records[1].metrics
    assert osp.getmtime(records[1].pseudo_label_file) == mtime

    # the teacher given as a checkpoint; a threshold no box reaches stops before the student is built
    cfg = student_cfg(synthetic_data, score_thr=1.01)
    cfg.self_training.teacher_checkpoint = teacher
    with pytest.raises(ConfigError, match=r'round 1: no box of .* has a score >= 1.01'):
        run_self_training(cfg, 1, str(tmp_path / 'strict'), adjust=tiny(synthetic_data), log=lines.append)
    assert trained == []


def test_tool_refuses_a_config_without_the_section(capsys):
    tool = load_script('tools/self_train.py')
    assert tool.main(['configs/accuracy/synthetic/burn_in.py', '--rounds', '1']) == 1
    assert 'has no self_training section' in capsys.readouterr().err
