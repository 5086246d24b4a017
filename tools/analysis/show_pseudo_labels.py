"""Draw the teacher's pseudo boxes, coloured by filter stage, over the hidden ground truth of unlabeled
images.

    python tools/analysis/show_pseudo_labels.py CONFIG CHECKPOINT [--views] [--num-images 8] [--out DIR]
        [--min-score 0.3] [--scale S] [--unlabeled-json PATH] [--hidden-gt PATH] [--seed 0]
        [--device cpu] [--cfg-options k=v ...]

Without ``--views``: the original images (:mod:`ssod.analysis.pseudo_label_pictures`). With ``--views``:
the training views, side by side, the weak view with the teacher's boxes and the strong view with the
boxes projected into it, i.e. what the student is taught (:mod:`ssod.analysis.strong_view_pictures`;
CONFIG must be a semi config). Bad input stops with ``error: ...`` (exit 2).
"""
import argparse
import sys

from mmengine.config import DictAction

from ssod.analysis.pseudo_label_inputs import PseudoLabelInputError
from ssod.analysis.pseudo_label_pictures import show_pseudo_labels
from ssod.analysis.strong_view_pictures import show_strong_view_pictures

DEFAULT_OUT = {False: 'work_dirs/pseudo_labels', True: 'work_dirs/strong_view_pictures'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='PNGs of unlabeled images with the teacher pseudo '
                                     'boxes (coloured by filter stage) over the hidden ground truth')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--views', action='store_true',
                        help="draw the weak and strong training views (the config's unlabeled training "
                        'pipeline) with the boxes projected into the strong view, instead of the '
                        'original images')
    parser.add_argument('--num-images', type=int, default=8)
    parser.add_argument('--out', help=f'output folder (default {DEFAULT_OUT[False]}, with --views '
                        f'{DEFAULT_OUT[True]})')
    parser.add_argument('--min-score', type=float, default=0.3,
                        help='draw teacher boxes with at least this score (default 0.3)')
    parser.add_argument('--scale', type=int, help='integer enlargement (default: long side >= 512 px)')
    parser.add_argument('--unlabeled-json', help='unlabeled COCO json (default: from the config)')
    parser.add_argument('--hidden-gt', help='hidden ground truth (default: unlabeled-hidden-gt.json '
                        'beside the unlabeled json)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the box jitter (with --views also of the views\' augmentations)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.semi_train_cfg.cls_pseudo_thr=0.7')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        show = show_strong_view_pictures if args.views else show_pseudo_labels
        show(args.config, args.checkpoint, args.out or DEFAULT_OUT[args.views], args.num_images,
             args.min_score, args.scale, args.unlabeled_json, args.hidden_gt, args.seed, args.device,
             args.cfg_options)
    except PseudoLabelInputError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
