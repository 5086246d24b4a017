"""Accuracy benchmark: supervised vs Mean Teacher vs Soft Teacher from the same burn-in checkpoint, equal
labeled split, iterations and schedule, over seeds (ssod/experiments/accuracy.py has the protocol).

    python benchmarks/accuracy.py --profile quick        # 1 seed, short runs (about 30 min on 2 cores)
    python benchmarks/accuracy.py --profile full         # 3 seeds, the configs' lengths
    python benchmarks/accuracy.py --profile gpu          # CUDA: 256 px synthetic images, longer runs

Data: the tree-crown tiles (tools/data/prepare_tree_crowns.py) and synthetic shapes at 1 % and 10 % labeled
(made here with tools/data/make_synthetic.py when missing). Writes results.csv, results.md and results.png
into --out; finished runs are kept, so a second call only trains what is missing.
"""
import argparse
import os.path as osp
import subprocess
import sys

from ssod.experiments.accuracy import METHODS, DataSpec, Profile, run_benchmark, write_outputs

PROFILES = {
    # name: (profile, synthetic image size in pixels)
    'quick': (Profile('quick', burn_in_iters=100, arm_iters=60, seeds=(0,)), 128),
    'full': (Profile('full', burn_in_iters=240, arm_iters=150, seeds=(0, 1, 2)), 128),
    'gpu': (Profile('gpu', burn_in_iters=1000, arm_iters=2000, seeds=(0, 1, 2)), 256),
}
RUNS = ('burn_in',) + METHODS


def specs(image_size: int, data: list) -> list:
    out = []
    if 'tree_crowns' in data:
        out.append(DataSpec('tree_crowns', {r: f'configs/accuracy/tree_crowns/{r}.py' for r in RUNS}))
    for percent in (1, 10):
        name = f'synthetic_{percent}pct'
        if name in data:
            out.append(DataSpec(name, {r: f'configs/accuracy/synthetic/{r}.py' for r in RUNS},
                                data_root=f'data/synthetic_{image_size}px_{percent}pct'))
    return out


def make_data(spec_list) -> None:
    """Tree crowns and synthetic splits that are missing are made by their data tools."""
    for spec in spec_list:
        if spec.data_root is None:
            if not osp.isfile('data/tree_crowns/annotations/val.json'):
                subprocess.run([sys.executable, 'tools/data/prepare_tree_crowns.py', '--out',
                                'data/tree_crowns'], check=True)
        elif not osp.isfile(osp.join(spec.data_root, 'annotations', 'val.json')):
            size, percent = spec.data_root.split('_')[-2:]
            subprocess.run([sys.executable, 'tools/data/make_synthetic.py', '--out', spec.data_root,
                            '--num-images', '1000', '--image-size', size[:-2], '--labeled-percent',
                            percent[:-3], '--val-images', '100'], check=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--profile', choices=sorted(PROFILES), default='quick')
    parser.add_argument('--data', nargs='+', default=['tree_crowns', 'synthetic_1pct', 'synthetic_10pct'],
                        choices=['tree_crowns', 'synthetic_1pct', 'synthetic_10pct'])
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    parser.add_argument('--seeds', type=int, nargs='+', help="override the profile's seeds")
    parser.add_argument('--out', help='output folder (default work_dirs/accuracy_<profile>)')
    args = parser.parse_args(argv)
    profile, image_size = PROFILES[args.profile]
    if args.seeds:
        profile = Profile(profile.name, profile.burn_in_iters, profile.arm_iters, tuple(args.seeds))
    out = args.out or f'work_dirs/accuracy_{profile.name}'
    spec_list = specs(image_size, args.data)
    make_data(spec_list)
    rows = run_benchmark(spec_list, profile, out, methods=args.methods)
    paths = write_outputs(rows, out)
    with open(paths['md']) as f:
        print(f.read())
    print('written: ' + ', '.join(paths.values()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
