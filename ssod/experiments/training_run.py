"""One training run of a config inside this process, with its outcome kept in ``<work_dir>/result.json``.

What a protocol of several runs needs from each run: a fixed seed, an optional starting checkpoint
(``load_from``: weights only, a fresh optimizer and schedule), the metrics of the validation after the
last iteration, the final checkpoint, and the seconds per training iteration. A run whose
``result.json`` exists is not trained again (a killed protocol continues with the run it was in); with
``resume=True`` a run killed midway continues from its newest complete checkpoint.
"""
import json
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass
from typing import Dict, Optional

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

RESULT_FILE = 'result.json'


@dataclass
class RunResult:
    """Outcome of one run: validation ``metrics`` after the last iteration (mmengine keys, e.g.
    ``coco/bbox_mAP`` or ``teacher/coco/bbox_mAP``), the final ``checkpoint``, ``iters`` trained and
    ``sec_per_iter`` (wall-clock seconds of training divided by iterations, data loading included)."""
    name: str
    metrics: Dict[str, float]
    checkpoint: str
    iters: int
    sec_per_iter: float
    seed: int

    @classmethod
    def load(cls, path: str) -> 'RunResult':
        with open(path) as f:
            return cls(**json.load(f))

    def save(self, path: str) -> None:
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(asdict(self), f, indent=1)
        os.replace(tmp, path)


class _TrainTimeAndMetrics(Hook):
    """Wall-clock time of the training iterations (validation excluded) and the last metrics."""
    priority = 'LOWEST'

    def __init__(self) -> None:
        self.metrics: Optional[dict] = None
        self.train_seconds = 0.0
        self._start: Optional[float] = None
        self.first_iter: Optional[int] = None  # the iteration this process started at (> 0 after a resume)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self.first_iter is None:
            self.first_iter = int(runner.iter)
        if self._start is None:
            self._start = time.perf_counter()

    def before_val(self, runner) -> None:
        if self._start is not None:
            self.train_seconds += time.perf_counter() - self._start
            self._start = None

    def after_train(self, runner) -> None:
        self.before_val(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = dict(metrics or {})


def train_run(cfg: Config, work_dir: str, seed: int, name: str,
              load_from: Optional[str] = None, resume: bool = False) -> RunResult:
    """Train ``cfg`` in ``work_dir`` with ``seed`` (deterministic data order and initialisation),
    starting from ``load_from`` if given; validate after the last iteration (the config's loop must
    validate there); return (and store) the :class:`RunResult`. An existing ``result.json`` in
    ``work_dir`` is returned without training. ``resume``: when ``work_dir`` already holds a checkpoint
    of this run (``last_checkpoint``), continue from it (the checkpoint hook picks the newest complete
    one) instead of starting again from ``load_from``."""
    result_path = osp.join(work_dir, RESULT_FILE)
    if osp.isfile(result_path):
        return RunResult.load(result_path)
    cfg = cfg.copy()
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    if resume and osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        cfg.load_from, cfg.resume = None, True
    else:
        cfg.load_from, cfg.resume = load_from, False
    # Runners of one process share mmengine's named global instances: give this run its own.
    cfg.visualizer = dict(cfg.get('visualizer') or dict(type='DetLocalVisualizer'))
    cfg.visualizer['name'] = f'visualizer_{name}_{seed}_{time.time_ns()}'
    runner = Runner.from_cfg(cfg)
    probe = _TrainTimeAndMetrics()
    runner.register_hook(probe)
    runner.train()
    if probe.metrics is None:
        raise RuntimeError(f'{name}: the run did not validate after its last iteration; set '
                           f'train_cfg.val_interval to a divisor of max_iters')
    iters = int(runner.iter)
    checkpoint = osp.join(work_dir, f'iter_{iters}.pth')
    if not osp.isfile(checkpoint):
        raise RuntimeError(f'{name}: no checkpoint {checkpoint} after training; the config must save '
                           f'one at the last iteration (default_hooks.checkpoint.interval)')
    result = RunResult(name=name, metrics={k: float(v) for k, v in probe.metrics.items()},
                       checkpoint=checkpoint, iters=iters,
                       sec_per_iter=probe.train_seconds / max(iters - (probe.first_iter or 0), 1),
                       seed=seed)
    result.save(result_path)
    return result
