"""Split a COCO instances file into labeled / unlabeled parts for partial-label benchmarks.

    python tools/data/split_coco.py data/coco/annotations/instances_train2017.json \\
        [--out DIR] [--percent 1 2 5 10] [--fold 1 2 3 4 5] [--seed-offset 0] [--no-hidden-gt]

Sampling, seeds and output files: :mod:`ssod.data.coco_split`. Exit code 2 on bad input.
"""
import argparse
import os.path as osp
import sys
import time
from typing import Optional, Sequence

from ssod.data import coco_split
from ssod.data.coco_split import DEFAULT_FOLDS, DEFAULT_PERCENTS, SplitError, write_splits


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=coco_split.__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('ann_file', help='COCO instances json, e.g. data/coco/annotations/'
                        'instances_train2017.json')
    parser.add_argument('--out', default=None,
                        help='output folder (default: <folder of ann_file>/semi_supervised)')
    parser.add_argument('--percent', type=float, nargs='+', default=list(DEFAULT_PERCENTS),
                        help='labeled percents, each in (0, 100) (default: 1 2 5 10)')
    parser.add_argument('--fold', type=int, nargs='+', default=list(DEFAULT_FOLDS),
                        help='folds; fold F is drawn with seed F + seed offset (default: 1 2 3 4 5)')
    parser.add_argument('--seed-offset', type=int, default=0,
                        help='added to the fold to give the seed (default: 0)')
    parser.add_argument('--no-hidden-gt', dest='hidden_gt', action='store_false',
                        help='do not write the -unlabeled-hidden-gt.json files')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        reports = write_splits(args.ann_file, args.out, args.percent, args.fold, args.seed_offset,
                               args.hidden_gt)
    except SplitError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    folder = osp.dirname(next(iter(reports[0].paths.values())))
    print(f'wrote {len(reports)} split(s) into {folder} in {time.perf_counter() - started:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
