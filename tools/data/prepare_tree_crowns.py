"""Build the tree-crown demo data set (COCO, semi-supervised splits) from the deepforest 2.1.0 wheel.

    python tools/data/prepare_tree_crowns.py --out data/tree_crowns [--wheel PATH] [--tile-size 256]
        [--labeled-percent 20] [--seed 0] [--val-fraction 0.2] [--min-visible 0.5] [--force]

What it builds and how: :mod:`ssod.data.tree_crowns`. Exit code 2 on an input error.
"""
import argparse
import sys
import time
from typing import Optional, Sequence

from ssod.data import tree_crowns
from ssod.data.coco_files import summary
from ssod.data.tree_crowns import WHEEL_NAME, PrepareError, is_up_to_date, prepare, stamp_for


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=tree_crowns.__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='output folder, e.g. data/tree_crowns')
    parser.add_argument('--wheel', help=f'path of {WHEEL_NAME}; default: pip download into OUT/download')
    parser.add_argument('--tile-size', type=int, default=256, help='tile side in pixels (default 256)')
    parser.add_argument('--labeled-percent', type=float, default=20.0,
                        help='percent of train tiles that keep their boxes (default 20)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the labeled/unlabeled draw')
    parser.add_argument('--val-fraction', type=float, default=0.2,
                        help='wanted share of all tiles in val (default 0.2)')
    parser.add_argument('--min-visible', type=float, default=0.5,
                        help='keep a box cut by a tile border if this share of its area is inside')
    parser.add_argument('--force', action='store_true', help='rebuild even if the outputs are up to date')
    args = parser.parse_args(argv)
    if args.tile_size < 16:
        parser.error(f'--tile-size must be at least 16 pixels, got {args.tile_size}')
    if not 0 < args.labeled_percent < 100:
        parser.error(f'--labeled-percent must be in (0, 100), got {args.labeled_percent:g}')
    if not 0 < args.val_fraction < 1:
        parser.error(f'--val-fraction must be in (0, 1), got {args.val_fraction:g}')
    if not 0 < args.min_visible <= 1:
        parser.error(f'--min-visible must be in (0, 1], got {args.min_visible:g}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        if not args.force and is_up_to_date(args.out, stamp_for(args)):
            print(f'{args.out} is up to date (same arguments; use --force to rebuild)')
            return 0
        files = prepare(args)
    except PrepareError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'wrote {args.out}:\n{summary(files)}')
    print(f'done in {time.perf_counter() - started:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
