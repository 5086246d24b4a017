"""Evaluate a checkpoint: a plain detector, or the teacher and/or the student of a semi-supervised one.

    python tools/test.py CONFIG CHECKPOINT [--model teacher|student|both] [--out results.pkl]
                         [--show-dir DIR] [--work-dir DIR] [--cfg-options key=value ...]
                         [--launcher none|pytorch|slurm]

* ``--model``: which model of a teacher-student checkpoint to evaluate (default: the config's
  ``semi_test_cfg.predict_on``); ``both`` evaluates the teacher, then the student, in one run. Metric
  keys are prefixed with the model: ``teacher/coco/bbox_mAP``. Not accepted for a plain detector.
* ``--out``: the detections, one entry per test image, as a pickle (mmdet's ``DumpDetResults``); with
  ``--model both`` one file per model, ``results.teacher.pkl`` and ``results.student.pkl``.
* ``--show-dir``: a picture of the detections for every test image (mmdet's ``DetVisualizationHook``);
  a relative DIR is taken inside ``<work dir>/<timestamp>/``; with ``both``, sub-folders per model.
* ``{fold}`` / ``{percent}`` in the config are filled in after ``--cfg-options`` (see
  ssod/utils/split_placeholders.py), and the test data is checked before anything is built.

Distributed: ``tools/dist_test.sh`` / ``tools/slurm_test.sh`` call this with ``--launcher``.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config

import ssod  # noqa: F401  (registers ssod components and the checkpoint allow-list)
from ssod.utils.cli import add_common_arguments, build_runner, export_local_rank, load_config
from ssod.utils.config_checks import ConfigError
from ssod.utils.data_checks import preflight_check

MODEL_CHOICES = ('teacher', 'student', 'both')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a detector checkpoint')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--model', choices=MODEL_CHOICES,
                        help='teacher-student checkpoints: evaluate the teacher, the student or both '
                        '(default: the config\'s semi_test_cfg.predict_on)')
    parser.add_argument('--out', help='dump the detections to this pickle file (.pkl / .pickle)')
    parser.add_argument('--show-dir', help='write a picture of the detections of every image here')
    parser.add_argument('--work-dir', help='where logs go (default: ./work_dirs/<config name>)')
    add_common_arguments(parser, cfg_options_example='fold=3 test_dataloader.batch_size=2')
    return export_local_rank(parser.parse_args(argv))


def is_teacher_student_config(cfg: Config) -> bool:
    """Semi-supervised detectors wrap a detector config (``model.detector``)."""
    return isinstance(cfg.get('model'), dict) and 'detector' in cfg.model


def select_models(cfg: Config, choice) -> None:
    """Replace the test loop by ``SemiTestLoop`` over the chosen model(s)."""
    if not is_teacher_student_config(cfg):
        if choice is not None:
            raise ConfigError(f'--model {choice} needs a teacher-student config (model.detector); '
                              f'{cfg.model.get("type")} is a plain detector: leave --model out.')
        return
    if choice is None:
        choice = (cfg.model.get('semi_test_cfg') or {}).get('predict_on', 'teacher')
    models = ['teacher', 'student'] if choice == 'both' else [choice]
    test_cfg = dict(cfg.get('test_cfg') or {})
    test_cfg.pop('type', None)
    test_cfg.pop('models', None)
    cfg.test_cfg = dict(type='SemiTestLoop', models=models, **test_cfg)


def add_dump(cfg: Config, out: str) -> None:
    if not out.endswith(('.pkl', '.pickle')):
        raise ConfigError(f'--out {out}: the results file must end in .pkl or .pickle')
    evaluators = cfg.test_evaluator
    evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
    evaluators.append(dict(type='DumpDetResults', out_file_path=out))
    cfg.test_evaluator = evaluators


def enable_pictures(cfg: Config, show_dir: str) -> None:
    hooks = cfg.get('default_hooks') or {}
    if 'visualization' not in hooks:
        raise ConfigError('--show-dir needs default_hooks.visualization (DetVisualizationHook) in the '
                          'config; this config has none.')
    hooks.visualization.update(draw=True, test_out_dir=show_dir, interval=1)


def build_config(args) -> Config:
    if osp.isfile(args.config) and not osp.isfile(args.checkpoint):
        raise ConfigError(f'checkpoint {args.checkpoint} does not exist')
    cfg = load_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    select_models(cfg, args.model)
    if args.out is not None:
        add_dump(cfg, args.out)
    if args.show_dir is not None:
        enable_pictures(cfg, args.show_dir)
    preflight_check(cfg, phases=('test', ))
    return cfg


def main(argv=None) -> dict:
    """Run the evaluation; returns the metrics (keys ``teacher/...`` / ``student/...`` for semi models)."""
    args = parse_args(argv)
    try:
        cfg = build_config(args)
    except ConfigError as error:
        sys.exit(f'error: {error}')
    runner = build_runner(cfg, args.launcher)
    return runner.test()


if __name__ == '__main__':
    main()
