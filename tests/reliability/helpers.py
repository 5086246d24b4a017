"""Helpers of the fault-injection tests: :class:`ForkTrainer` drives ``fork_trainer.py``, which forks
one real process per training run (``tools/train.py``); :func:`write_config` writes a small SoftTeacher
config (the synthetic config, 64 px images, batch 2, no validation) pointing at a copy of the data.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CONFIG = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                            'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')
FORK_TRAINER = 'tests.reliability.fork_trainer'  # run with -m from REPO_ROOT (tests is a package)


class ForkTrainer:
    """A ``fork_trainer.py`` process; :meth:`train` runs ``tools/train.py ARGV`` in a fresh fork."""

    def __init__(self):
        env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
        self.process = subprocess.Popen([sys.executable, '-m', FORK_TRAINER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)

    def train(self, argv, log, kill_at=None) -> dict:
        """Run one training process; returns its pid, exit_code and signal (9 when killed)."""
        request = dict(argv=[str(a) for a in argv], log=str(log), kill_at=kill_at)
        self.process.stdin.write(json.dumps(request) + '\n')
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f'fork_trainer.py died (exit code {self.process.poll()})')
        return json.loads(line)

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)



def data_options(data_root):
    """``--cfg-options`` entries (as a dict) that point the synthetic config at ``data_root``."""
    root = data_root.rstrip('/') + '/'
    return {'train_dataloader.dataset.datasets.0.data_root': root,
            'train_dataloader.dataset.datasets.1.data_root': root}


def train_argv(config, work_dir, data_root, *args):
    """``tools/train.py`` arguments: CONFIG --work-dir WORK_DIR [ARGS] --cfg-options <data roots>."""
    options = [f'{key}={value}' for key, value in data_options(data_root).items()]
    return [config, '--work-dir', str(work_dir), *args, '--cfg-options', *options]


def write_config(path, max_iters, checkpoint_interval=1, max_keep_ckpts=1, extra=''):
    """A tiny SoftTeacher training config (no validation, text logs every iteration) at ``path``;
    give it the data with :func:`train_argv`."""
    text = f"""_base_ = [{SYNTHETIC_CONFIG!r}]
max_iters = {max_iters}
train_dataloader = dict(sampler=dict(max_iters=max_iters))
train_cfg = dict(max_iters=max_iters, val_interval=10 ** 9)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
randomness = dict(seed=0)
visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
default_hooks = dict(checkpoint=dict(interval={checkpoint_interval}, max_keep_ckpts={max_keep_ckpts}))
{extra}
"""
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def scalar_records(work_dir):
    """Every record of every ``vis_data/scalars.json`` of the runs in ``work_dir`` (oldest run first)."""
    records = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def read(path):
    with open(path, errors='replace') as f:
        return f.read()
