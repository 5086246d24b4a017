"""Write a detector's pseudo-labels of unlabeled images as a COCO json (Noisy Student / STAC stage 1).

    python tools/pseudo_label.py CONFIG CHECKPOINT --images PATH --out OUT [--img-dir DIR]
        [--model teacher|student] [--score-floor 0.05] [--flip] [--no-progress]
        [--launcher none|pytorch|slurm] [--cfg-options key=value ...]

* ``--images``: a COCO json (its image records are kept; files under ``--img-dir``, default the json's
  folder) or a folder of jpg/jpeg/png/tif images (ids 1..N by file name).
* ``--model``: which half of a teacher-student checkpoint labels (default: the config's
  ``semi_test_cfg.predict_on``); not accepted for a plain detector.
* ``--score-floor``: keep every box scored at least this (the training threshold is chosen later).
* ``--flip``: add horizontal-flip test-time augmentation.

A killed run continues where it stopped when started again with the same arguments. Distributed:
``torchrun --nproc_per_node N tools/pseudo_label.py ... --launcher pytorch`` (gloo on CPU) or srun with
``--launcher slurm``. What is written and how: :mod:`ssod.apis.pseudo_label`, docs/pseudo_label.md.
Bad input, a refused checkpoint or an impossible launch exits with ``error: ...`` (status 1).
"""
import argparse
import sys

import ssod  # noqa: F401  (registers ssod components and the checkpoint allow-list)
from ssod.apis.config_checks import ConfigError
from ssod.apis.distributed import LauncherError
from ssod.apis.pseudo_label import LAUNCHERS, write_pseudo_labels
from ssod.apis.pseudo_label_inference import MODEL_CHOICES
from ssod.apis.runner import add_common_arguments, export_local_rank
from ssod.compat.checkpoint_safety import CHECKPOINT_LOAD_ERRORS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Pseudo-label images with a detector; write COCO json')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file (plain detector or teacher-student)')
    parser.add_argument('--images', required=True, help='COCO json of the images, or a folder of images')
    parser.add_argument('--out', required=True, help='the COCO json to write')
    parser.add_argument('--img-dir', help='folder the json\'s file_name entries are relative to '
                        '(default: the json\'s folder)')
    parser.add_argument('--model', choices=MODEL_CHOICES,
                        help='teacher-student checkpoints: label with the teacher or the student '
                        '(default: the config\'s semi_test_cfg.predict_on)')
    parser.add_argument('--score-floor', type=float, default=0.05,
                        help='keep boxes with score >= this (default 0.05)')
    parser.add_argument('--flip', action='store_true', help='horizontal-flip test-time augmentation')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    add_common_arguments(parser, cfg_options_example='model.semi_test_cfg.predict_on=student')
    args = export_local_rank(parser.parse_args(argv))
    if args.launcher not in LAUNCHERS:
        parser.error(f'--launcher {args.launcher}: choose one of {", ".join(LAUNCHERS)}')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        summary = write_pseudo_labels(
            args.config, args.checkpoint, args.images, args.out, img_dir=args.img_dir,
            model=args.model, score_floor=args.score_floor, flip=args.flip, launcher=args.launcher,
            cfg_options=args.cfg_options, progress=not args.no_progress)
    except (ConfigError, LauncherError, *CHECKPOINT_LOAD_ERRORS) as error:
        sys.exit(f'error: {error}')
    print(f'{summary.out}: {summary.images} images, {summary.boxes} boxes (this rank labeled '
          f'{summary.labeled} images; {summary.skipped} were finished before this run)', flush=True)
    return summary


if __name__ == '__main__':
    main()
