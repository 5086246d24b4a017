"""Generate a deterministic synthetic shapes detection data set (no network, no downloads).

    python tools/data/make_synthetic.py --out data/synthetic --num-images 1000 --image-size 256 \\
        --num-classes 3 --labeled-percent 10 --val-images 100 --seed 0 [--workers N] [--force]

What the images hold and how they are split: :mod:`ssod.data.synthetic`. Exit code 2 on a bad option.
"""
import argparse
import functools
import os
import os.path as osp
import sys
import time
from typing import Optional, Sequence

from ssod.data.coco_files import summary
from ssod.data.synthetic import (SHAPE_KINDS, STAMP_NAME, generate, is_up_to_date, stamp_content,
                                 write_stamp)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        description='Generate a deterministic synthetic shapes detection data set (COCO format, '
                    'split for semi-supervised training).')
    parser.add_argument('--out', default='data/synthetic', help='output folder (default: %(default)s)')
    parser.add_argument('--num-images', type=int, default=1000, help='training images (>= 2)')
    parser.add_argument('--image-size', type=int, default=256, help='image side in pixels (>= 32)')
    parser.add_argument('--num-classes', type=int, default=3,
                        help=f'shape classes, 1 to {len(SHAPE_KINDS)}: {", ".join(SHAPE_KINDS)}')
    parser.add_argument('--labeled-percent', type=float, default=10.0,
                        help='percent of training images that keep their boxes, in (0, 100)')
    parser.add_argument('--val-images', type=int, default=100, help='validation images (>= 1)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (images and split), >= 0')
    parser.add_argument('--workers', type=int, default=None,
                        help='worker processes (default: min(2, CPU count)); the output does not '
                             'depend on it')
    parser.add_argument('--force', action='store_true', help='regenerate even if up to date')
    return parser


def validate_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit with status 2 and an ``error: ...`` message naming the option on a bad value."""
    if args.num_images < 2:
        parser.error(f'--num-images must be at least 2 (labeled and unlabeled), got {args.num_images}')
    if args.image_size < 32:
        parser.error(f'--image-size must be at least 32 pixels, got {args.image_size}')
    if not 1 <= args.num_classes <= len(SHAPE_KINDS):
        parser.error(f'--num-classes must be between 1 and {len(SHAPE_KINDS)} '
                     f'({", ".join(SHAPE_KINDS)}), got {args.num_classes}')
    if not 0 < args.labeled_percent < 100:
        parser.error(f'--labeled-percent must be in (0, 100), got {args.labeled_percent:g}')
    if args.val_images < 1:
        parser.error(f'--val-images must be at least 1, got {args.val_images}')
    if args.seed < 0:
        parser.error(f'--seed must be non-negative, got {args.seed}')
    if args.workers is not None and args.workers < 1:
        parser.error(f'--workers must be at least 1, got {args.workers}')


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    validate_args(parser, args)
    workers = args.workers or min(2, os.cpu_count() or 1)
    if not args.force and is_up_to_date(args):
        print(f'{args.out} is up to date (same arguments as its last run; --force regenerates)')
        return 0
    start = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    stamp_path = osp.join(args.out, STAMP_NAME)
    if osp.exists(stamp_path):
        os.remove(stamp_path)
    print(f'generating {args.num_images} + {args.val_images} images of {args.image_size} px, '
          f'{args.num_classes} classes, into {args.out} with {workers} worker(s)', flush=True)
    files = generate(args.out, args.num_images, args.image_size, args.num_classes,
                     args.labeled_percent, args.val_images, args.seed, workers,
                     print_fn=functools.partial(print, flush=True))
    write_stamp(args.out, stamp_content(args))
    print(summary(files))
    print(f'done in {time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
