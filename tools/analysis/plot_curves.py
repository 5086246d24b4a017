"""Plot training curves (losses, pseudo-label precision/recall, mAP) of runs as PNG files.

    python tools/analysis/plot_curves.py WORK_DIR_OR_JSON [...] [--out DIR] [--keys GROUP ...]
                                         [--size W H]

What is read and how it is grouped: :mod:`ssod.analysis.curves`. Exit code 2 on unusable input.
"""
import argparse
import sys
from collections import OrderedDict

from ssod.analysis.curves import DEFAULT_GROUPS, CurveInputError, default_out_dir, parse_group, plot_curves


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Plot losses, pseudo-label precision/recall and mAP '
                                     'over iterations from mmengine scalars.json logs')
    parser.add_argument('paths', nargs='+', help='work dir(s) or vis_data/scalars.json file(s); one '
                        'run each')
    parser.add_argument('--out', help='output folder (default: <first path>/curves)')
    parser.add_argument('--keys', nargs='+', metavar='GROUP',
                        help='groups NAME=PATTERN[,PATTERN] or PATTERN (glob over the scalar keys), '
                        'one PNG each; default: ' + ' '.join(
                            f"{n}={','.join(p)}" for n, p in DEFAULT_GROUPS.items()))
    parser.add_argument('--size', nargs=2, type=int, default=(800, 450), metavar=('W', 'H'),
                        help='PNG size in pixels (default 800 450)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        groups = OrderedDict(parse_group(text) for text in args.keys) if args.keys else None
        plot_curves(args.paths, args.out or default_out_dir(args.paths), groups, tuple(args.size))
    except CurveInputError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
