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
  ssod/apis/split_placeholders.py), and the test data is checked before anything is built
  (:func:`ssod.apis.evaluate.evaluation_config`).

Distributed: ``tools/dist_test.sh`` / ``tools/slurm_test.sh`` call this with ``--launcher``.
"""
import argparse
import sys

import ssod  # noqa: F401  (registers ssod components and the checkpoint allow-list)
from ssod.apis.config_checks import ConfigError
from ssod.apis.distributed import LauncherError
from ssod.apis.evaluate import MODEL_CHOICES, evaluation_config
from ssod.apis.runner import add_common_arguments, build_runner, export_local_rank
from ssod.compat.checkpoint_safety import CHECKPOINT_LOAD_ERRORS


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


def main(argv=None) -> dict:
    """Run the evaluation; returns the metrics (keys ``teacher/...`` / ``student/...`` for semi models)."""
    args = parse_args(argv)
    try:
        cfg = evaluation_config(args.config, args.checkpoint, args.launcher, args.cfg_options,
                                args.work_dir, model=args.model, out=args.out, show_dir=args.show_dir)
        runner = build_runner(cfg, args.launcher)
    except (ConfigError, LauncherError) as error:
        sys.exit(f'error: {error}')
    try:
        return runner.test()
    except CHECKPOINT_LOAD_ERRORS as error:  # the message says what to do
        sys.exit(f'error: {error}')


if __name__ == '__main__':
    main()
