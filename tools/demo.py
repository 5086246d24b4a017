"""What `make demo` runs: a supervised burn-in on the labeled tree-crown tiles, then Soft Teacher and its
supervised control from the same checkpoint; prints the control's, the teacher's and the student's val mAP.

    python tools/demo.py [--work-dir DIR] [--seed N] [--cfg-options key=value ...]

The data must exist first (`python tools/data/prepare_tree_crowns.py --out data/tree_crowns`). Uses the GPU
when one is visible. Phases already finished in the work dir are not trained again.
"""
import argparse
import sys
import time

from mmengine.config import Config, DictAction

from ssod.apis.data_checks import missing_data_paths
from ssod.compat.checkpoint_safety import CHECKPOINT_LOAD_ERRORS
from ssod.engine.errors import TrainingStoppedError
from ssod.experiments.demo import run_demo

BURN_IN = 'configs/demo/faster_rcnn_lite0_tree_crowns_burn_in.py'
SEMI = 'configs/demo/soft_teacher_lite0_tree_crowns.py'
CONTROL = 'configs/demo/soft_teacher_lite0_tree_crowns_control.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--burn-in-config', default=BURN_IN)
    parser.add_argument('--semi-config', default=SEMI)
    parser.add_argument('--control-config', default=CONTROL)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='merged into all three configs')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    semi = Config.fromfile(args.semi_config)
    if args.cfg_options:
        semi.merge_from_dict(args.cfg_options)
    missing = missing_data_paths(semi, phases=('train', 'val'))
    if missing:
        print('error: the demo data is missing:\n  ' + '\n  '.join(missing) + '\nMake it first: '
              'python tools/data/prepare_tree_crowns.py --out data/tree_crowns', file=sys.stderr)
        return 1
    start = time.time()
    try:
        result = run_demo(args.burn_in_config, args.semi_config, args.control_config, args.work_dir,
                          seed=args.seed, cfg_options=args.cfg_options)
    except (TrainingStoppedError, *CHECKPOINT_LOAD_ERRORS) as error:
        # a refused or unreadable checkpoint, or a fault check that stopped a phase: the message names
        # the file and says what to do
        print(f'error: {error}', file=sys.stderr)
        return 1
    print('=' * 96)
    for line in result.report():
        print(line)
    print(f'seed {args.seed}; work dir {args.work_dir}; {(time.time() - start) / 60:.1f} min')
    print('=' * 96)
    return 0


if __name__ == '__main__':
    sys.exit(main())
