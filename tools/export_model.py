"""Export the teacher or the student of a semi-supervised checkpoint as a plain MMDetection model.

    python tools/export_model.py CONFIG CHECKPOINT [--model teacher|student] [--out-dir DIR]
                                 [--name NAME] [--cfg-options key=value ...]

What is written and checked: :mod:`ssod.apis.export`. Exit code 2 on bad input.
"""
import argparse
import sys
from typing import Optional, Sequence

from mmengine.config import DictAction

from ssod.apis import export as export_module
from ssod.apis.export import MODEL_CHOICES, ExportError, export


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=export_module.__doc__.split('\n\n')[0])
    parser.add_argument('config', help='the semi-supervised config the checkpoint was trained with')
    parser.add_argument('checkpoint',
                        help='a checkpoint of that config (teacher.* and student.* weights)')
    parser.add_argument('--model', choices=MODEL_CHOICES, default='teacher',
                        help='which detector to export (default: teacher)')
    parser.add_argument('--out-dir', help='output folder (default: the checkpoint folder)')
    parser.add_argument('--name', help='output file stem (default: <checkpoint stem>_<model>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override entries of the semi config before export, e.g. '
                        'model.detector.test_cfg.rcnn.score_thr=0.001')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        paths = export(args.config, args.checkpoint, args.model, args.out_dir, args.name,
                       args.cfg_options)
    except ExportError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'wrote the {args.model} of {args.checkpoint}:\n  {paths["checkpoint"]}\n  {paths["config"]}\n'
          f'use it with mmdet:\n'
          f'  from mmdet.apis import init_detector, inference_detector\n'
          f'  model = init_detector({paths["config"]!r}, {paths["checkpoint"]!r}, device="cpu")\n'
          f'  result = inference_detector(model, "demo.jpg")')
    return 0


if __name__ == '__main__':
    sys.exit(main())
