"""Collect the percents x folds matrix of a partial-label benchmark and print mean ± std per percent.

    python tools/analysis/benchmark_matrix.py [--work-dirs PATTERN_OR_DIR ...] [--percents 1 2 5 10]
        [--folds 1 2 3 4 5] [--metric bbox_mAP] [--prefer teacher/] [--select last|best]
        [--format plain|markdown] [--scale 100] [--digits 2]
        [--print-commands] [--config-pattern PATTERN] [--train-command PREFIX]

Which runs and values are read, and how: :mod:`ssod.analysis.benchmark_matrix`. Exit code 2 on an error
in the arguments or the logs.
"""
import argparse
import sys
from typing import Optional, Sequence

from ssod.analysis import benchmark_matrix
from ssod.analysis.benchmark_matrix import (DEFAULT_CONFIG_PATTERN, DEFAULT_FOLD_REGEX,
                                            DEFAULT_PERCENT_REGEX, DEFAULT_WORK_DIRS, BenchmarkError,
                                            matrix_report)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=benchmark_matrix.__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dirs', nargs='+', default=[DEFAULT_WORK_DIRS],
                        help='run folders, or patterns with {percent} / {fold} (default: %(default)s)')
    parser.add_argument('--percents', type=float, nargs='+', help='rows, exactly (default: 1 2 5 10 '
                        'plus the percent of every listed run)')
    parser.add_argument('--folds', type=int, nargs='+', help='columns, exactly (default: 1 2 3 4 5 plus '
                        'the fold of every listed run)')
    parser.add_argument('--metric', default='bbox_mAP', help='metric key or its last part(s)')
    parser.add_argument('--prefer', default='teacher/',
                        help='prefix to prefer when several keys match (default: %(default)s)')
    parser.add_argument('--select', choices=('last', 'best'), default='last')
    parser.add_argument('--format', choices=('plain', 'markdown'), default='plain')
    parser.add_argument('--scale', type=float, default=100.0,
                        help='factor on every value (default: 100)')
    parser.add_argument('--digits', type=int, default=2, help='decimals shown (default: 2)')
    parser.add_argument('--percent-regex', default=DEFAULT_PERCENT_REGEX)
    parser.add_argument('--fold-regex', default=DEFAULT_FOLD_REGEX)
    parser.add_argument('--print-commands', action='store_true',
                        help='print a training command for every missing run')
    parser.add_argument('--config-pattern', default=DEFAULT_CONFIG_PATTERN,
                        help='config of a percent, with {percent} (default: %(default)s)')
    parser.add_argument('--train-command', default='python tools/train.py',
                        help='command that trains a config (default: %(default)s)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        report = matrix_report(args.work_dirs, args.percents, args.folds, args.metric, args.prefer,
                               args.select, args.percent_regex, args.fold_regex, args.scale,
                               args.digits, args.format, args.print_commands, args.config_pattern,
                               args.train_command)
    except BenchmarkError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
