"""Threshold sweep of the teacher's pseudo-labels against hidden ground truth, to choose
``cls_pseudo_thr``.

    python tools/analysis/pseudo_label_report.py CONFIG CHECKPOINT [--thresholds 0.3 0.4 ...]
        [--unlabeled-json PATH] [--hidden-gt PATH] [--num-images N] [--format markdown|plain]
        [--csv PATH] [--json PATH] [--batch-size 4] [--seed 0] [--device cpu] [--cfg-options k=v ...]

What is measured: :mod:`ssod.analysis.pseudo_label_report`. Bad input stops with ``error: ...`` (exit 2).
"""
import argparse
import sys

from mmengine.config import DictAction

from ssod.analysis.pseudo_label_inputs import PseudoLabelInputError
from ssod.analysis.pseudo_label_report import DEFAULT_THRESHOLDS, render, report, write_csv, write_json


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Precision/recall of the teacher pseudo-labels per '
                                     'score threshold and class, against hidden ground truth')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--thresholds', nargs='+', type=float, default=list(DEFAULT_THRESHOLDS),
                        help='score thresholds (default 0.30 to 0.95 in steps of 0.05)')
    parser.add_argument('--unlabeled-json', help='unlabeled COCO json (default: from the config)')
    parser.add_argument('--hidden-gt', help='hidden ground truth (default: unlabeled-hidden-gt.json '
                        'beside the unlabeled json)')
    parser.add_argument('--num-images', type=int, help='only the first N unlabeled images')
    parser.add_argument('--format', choices=['markdown', 'plain'], default='markdown')
    parser.add_argument('--csv', help='also write the rows as CSV here')
    parser.add_argument('--json', help='also write the full result as JSON here')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0, help='seed of the box jitter')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.semi_train_cfg.cls_pseudo_thr=0.7')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = report(args.config, args.checkpoint, args.thresholds, args.unlabeled_json,
                        args.hidden_gt, args.num_images, args.batch_size, args.seed, args.device,
                        args.cfg_options)
    except PseudoLabelInputError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(render(result, args.format))
    if args.csv:
        write_csv(args.csv, result['rows'])
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == '__main__':
    sys.exit(main())
