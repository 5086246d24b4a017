"""The accuracy benchmark: supervised vs Mean Teacher vs Soft Teacher at equal labeled data, iterations and
schedule, over seeds, on the tree crowns and the synthetic shapes at 1 % and 10 % labeled.

Protocol per (data set, seed), every run in ``<out>/<data>/seed<k>/<run>`` (:func:`train_run`):

1. ``burn_in``: supervised training on the labeled split from ImageNet weights;
2. from its last checkpoint (the same file for every arm), one run per method with the same semi config,
   sampler (labeled + unlabeled images per batch), learning rate, iterations and EMA teacher:
   * ``supervised``: unsupervised weight 0 (the unlabeled images are never used; the control);
   * ``mean_teacher``: ``SemiBaseDetector``: hard pseudo-labels of the EMA teacher, the student's own
     losses on them (Tarvainen & Valpola's teacher, as the Soft Teacher paper's baseline);
   * ``soft_teacher``: ``SoftTeacher``.
   Each row reports the EMA teacher's val mAP (the model one deploys) and the raw student's.
3. ``noisy_student``: self-training (:mod:`.self_training`) with the burn-in as the round-0 teacher: the
   round's model labels the unlabeled images, and a noised student starting from it trains as long as an
   arm, on the same labeled images per iteration (the other half of each batch pseudo-labeled); two rounds,
   reported as ``noisy_student_r1`` (equal compute to the other arms, plus one labelling pass) and
   ``noisy_student_r2`` (twice the arms' iterations). A plain detector: its mAP fills both the teacher and
   the student columns.

Finished runs are kept (``result.json``), so an interrupted benchmark continues. Hyper-parameters are the
configs'; none is chosen on the val split reported here.
"""
import csv
import glob
import json
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from .self_training import RoundRecord, run_self_training
from .training_run import RunResult, train_run

METHODS = ('supervised', 'mean_teacher', 'soft_teacher', 'noisy_student')
SELF_TRAINING_ROUNDS = 2


@dataclass
class DataSpec:
    """One data set of the benchmark: a config per run (``burn_in`` and one per method, see
    ``configs/accuracy/<data>/``) and ``data_root``, which replaces the configs' data root in every
    dataset and evaluator (one config set serves several splits of the same data)."""
    name: str
    configs: Dict[str, str]
    data_root: Optional[str] = None


@dataclass
class Profile:
    """Lengths of a benchmark profile: iterations of the burn-in and of each arm, seeds."""
    name: str
    burn_in_iters: int
    arm_iters: int
    seeds: Sequence[int]


def length_options(cfg: Config, iters: int) -> dict:
    """Overrides that set a run of ``cfg`` to ``iters`` iterations: the loop (validation at the end),
    the checkpoint interval, the sampler's length, and every scheduler, warm-up or ramp-up position
    scaled by ``iters / max_iters`` (the schedule keeps its shape)."""
    old = int(cfg.train_cfg.max_iters)

    def scale(value):
        return max(1, round(value * iters / old)) if value else value
    options = {'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters,
               'default_hooks.checkpoint.interval': iters}
    if 'max_iters' in cfg.train_dataloader.get('sampler', {}):
        options['train_dataloader.sampler.max_iters'] = iters
    schedulers = []
    for scheduler in cfg.param_scheduler:
        scheduler = dict(scheduler)
        for key in ('begin', 'end'):
            if key in scheduler:
                scheduler[key] = scale(scheduler[key])
        if 'milestones' in scheduler:
            scheduler['milestones'] = [scale(m) for m in scheduler['milestones']]
        schedulers.append(scheduler)
    options['param_scheduler'] = schedulers
    hooks = []
    for hook in cfg.get('custom_hooks', []):
        hook = dict(hook)
        if isinstance(hook.get('schedule'), dict):
            hook['schedule'] = {k: (scale(v) if k in ('begin', 'end') else v)
                                for k, v in hook['schedule'].items()}
        hooks.append(hook)
    if hooks:
        options['custom_hooks'] = hooks
    return options


def data_root_options(cfg: Config, data_root: str) -> Config:
    """``cfg`` with every dataset's ``data_root`` and every evaluator's ``ann_file`` moved from the
    config's data root to ``data_root`` (in place; returns ``cfg``)."""
    data_root = data_root.rstrip('/') + '/'
    old_roots = set()

    def datasets(node):
        if isinstance(node, dict):
            if 'data_root' in node:
                yield node
            for value in node.values():
                yield from datasets(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                yield from datasets(value)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for dataset in datasets(cfg.get(key, {})):
            old_roots.add(dataset['data_root'])
            dataset['data_root'] = data_root
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(key)
        if isinstance(evaluator, dict) and 'ann_file' in evaluator:
            for old in old_roots:
                if evaluator['ann_file'].startswith(old):
                    evaluator['ann_file'] = data_root + evaluator['ann_file'][len(old):]
    section = cfg.get('self_training')  # the unlabeled images and their hidden ground truth
    if isinstance(section, dict):
        for key, value in section.items():
            for old in old_roots:
                if isinstance(value, str) and value.startswith(old):
                    section[key] = data_root + value[len(old):]
    return cfg


def _config(spec: 'DataSpec', run: str, iters: Optional[int] = None) -> Config:
    cfg = Config.fromfile(spec.configs[run])
    if spec.data_root:
        data_root_options(cfg, spec.data_root)
    if iters is not None:
        cfg.merge_from_dict(length_options(cfg, iters))
    return cfg


def run_benchmark(specs: Sequence[DataSpec], profile: Profile, out_dir: str,
                  methods: Sequence[str] = METHODS, log=print) -> List[dict]:
    """Run (or reuse) every run of the matrix; return one row per (data, method, seed)."""
    rows = []
    for spec in specs:
        for seed in profile.seeds:
            base = osp.join(out_dir, spec.name, f'seed{seed}')
            burn_in = train_run(_config(spec, 'burn_in', profile.burn_in_iters), osp.join(base, 'burn_in'),
                                seed, f'{spec.name}_burn_in')
            log(f'{spec.name} seed {seed} burn-in: mAP {_burn_in_map(burn_in):.3f}')
            for method in methods:
                if method == 'noisy_student':
                    rows.extend(_self_training_rows(spec, profile, seed, base, burn_in, log))
                    continue
                run = train_run(_config(spec, method, profile.arm_iters), osp.join(base, method), seed,
                                f'{spec.name}_{method}', load_from=burn_in.checkpoint)
                rows.append(_row(spec.name, method, seed, burn_in, run, osp.join(base, method)))
                log(f'{spec.name} seed {seed} {method}: teacher mAP {rows[-1]["teacher_mAP"]:.3f} '
                    f'student {rows[-1]["student_mAP"]:.3f} ({run.sec_per_iter:.2f} s/iter)')
    return rows


def _self_training_rows(spec: 'DataSpec', profile: 'Profile', seed: int, base: str, burn_in: RunResult,
                        log) -> List[dict]:
    cfg = _config(spec, 'noisy_student')
    cfg.self_training.teacher_checkpoint = burn_in.checkpoint

    def arm_length(run_cfg: Config) -> Config:  # the split's data and an arm's length, teacher config too
        if spec.data_root:
            data_root_options(run_cfg, spec.data_root)
        run_cfg.merge_from_dict(length_options(run_cfg, profile.arm_iters))
        return run_cfg
    records = run_self_training(cfg, SELF_TRAINING_ROUNDS, osp.join(base, 'noisy_student'), seed=seed,
                                adjust=arm_length, log=lambda line: log(f'{spec.name} seed {seed} {line}'))
    return [_round_row(spec.name, seed, burn_in, record) for record in records]


def _round_row(data: str, seed: int, burn_in: RunResult, record: RoundRecord) -> dict:
    row = dict(data=data, method=f'noisy_student_r{record.round}', seed=seed,
               burn_in_mAP=_burn_in_map(burn_in),
               teacher_mAP=record.mAP, teacher_mAP_50=record.mAP_50,
               student_mAP=record.mAP, student_mAP_50=record.mAP_50,
               iters=record.iters, sec_per_iter=record.sec_per_iter)
    nan = float('nan')
    row['pseudo_precision_cls'] = nan if record.pseudo_precision is None else record.pseudo_precision
    row['pseudo_recall_cls'] = nan if record.pseudo_recall is None else record.pseudo_recall
    return row


def _burn_in_map(run: RunResult) -> float:
    """A plain detector's ``coco/bbox_mAP``, or the student's of a semi-supervised burn-in."""
    return run.metrics.get('coco/bbox_mAP', run.metrics.get('student/coco/bbox_mAP', float('nan')))


def _row(data: str, method: str, seed: int, burn_in: RunResult, run: RunResult, work_dir: str) -> dict:
    m = run.metrics
    row = dict(data=data, method=method, seed=seed,
               burn_in_mAP=_burn_in_map(burn_in),
               teacher_mAP=m['teacher/coco/bbox_mAP'], teacher_mAP_50=m['teacher/coco/bbox_mAP_50'],
               student_mAP=m['student/coco/bbox_mAP'], student_mAP_50=m['student/coco/bbox_mAP_50'],
               iters=run.iters, sec_per_iter=run.sec_per_iter)
    curves = pseudo_label_curves(work_dir)
    for key in ('precision_cls', 'recall_cls'):
        values = curves.get(key, [])
        row[f'pseudo_{key}'] = sum(v for _, v in values) / len(values) if values else float('nan')
    return row


def pseudo_label_curves(work_dir: str) -> Dict[str, List[tuple]]:
    """``{precision_<stage>/recall_<stage>: [(iteration, value), ...]}`` from a run's scalar logs."""
    curves: Dict[str, List[tuple]] = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                for key, value in record.items():
                    # the text log says train/pseudo/..., the scalar file pseudo/...
                    name = key[len('train/'):] if key.startswith('train/') else key
                    if name.startswith(('pseudo/precision_', 'pseudo/recall_')):
                        curves.setdefault(name[len('pseudo/'):], []).append((record.get('iter'), value))
    return curves


def summarize(rows: Sequence[dict]) -> List[dict]:
    """Mean and (sample) std over seeds of the teacher's and student's mAP per (data, method), and the
    teacher's gain over the supervised arm in mAP points."""
    groups: Dict[tuple, List[dict]] = {}
    for row in rows:
        groups.setdefault((row['data'], row['method']), []).append(row)
    summary = []
    for (data, method), group in groups.items():
        entry = dict(data=data, method=method, seeds=len(group))
        for key in ('teacher_mAP', 'teacher_mAP_50', 'student_mAP', 'sec_per_iter', 'pseudo_precision_cls',
                    'pseudo_recall_cls'):
            entry[key], entry[key + '_std'] = _mean_std([r[key] for r in group])
        summary.append(entry)
    for entry in summary:
        reference = [e for e in summary if e['data'] == entry['data'] and e['method'] == 'supervised']
        entry['gain_points'] = (100 * (entry['teacher_mAP'] - reference[0]['teacher_mAP'])
                                if reference else float('nan'))
    return summary


def _mean_std(values: Sequence[float]):
    values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return float('nan'), float('nan')
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
    return mean, std


def markdown_table(summary: Sequence[dict]) -> str:
    lines = ['| data | method | seeds | teacher mAP | teacher mAP@0.5 | student mAP | vs supervised '
             '(mAP points) | pseudo precision / recall (cls) | s / iter |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for e in summary:
        pr = ('–' if math.isnan(e['pseudo_precision_cls'])
              else f'{e["pseudo_precision_cls"]:.2f} / {e["pseudo_recall_cls"]:.2f}')
        lines.append(f'| {e["data"]} | {e["method"]} | {e["seeds"]} | {e["teacher_mAP"]:.3f} ± '
                     f'{e["teacher_mAP_std"]:.3f} | {e["teacher_mAP_50"]:.3f} ± {e["teacher_mAP_50_std"]:.3f} | '
                     f'{e["student_mAP"]:.3f} ± {e["student_mAP_std"]:.3f} | {e["gain_points"]:+.1f} | {pr} | '
                     f'{e["sec_per_iter"]:.2f} |')
    return '\n'.join(lines) + '\n'


def write_outputs(rows: Sequence[dict], out_dir: str) -> Dict[str, str]:
    """``results.csv`` (one row per run), ``results.md`` (mean ± std table) and ``results.png`` (mAP per
    method and data; pseudo-label precision/recall over the Soft Teacher runs' iterations)."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {k: osp.join(out_dir, f'results.{k}') for k in ('csv', 'md', 'png')}
    if rows:
        with open(paths['csv'], 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    summary = summarize(rows)
    with open(paths['md'], 'w') as f:
        f.write(markdown_table(summary))
    plot(summary, out_dir, paths['png'])
    return paths


def plot(summary: Sequence[dict], out_dir: str, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    datas = sorted({e['data'] for e in summary})
    methods = list(dict.fromkeys(e['method'] for e in summary))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(len(methods), 1)
    for index, method in enumerate(methods):
        entries = [next((e for e in summary if e['data'] == d and e['method'] == method), None) for d in datas]
        xs = [i + index * width for i in range(len(datas))]
        axes[0].bar(xs, [e['teacher_mAP'] if e else 0 for e in entries], width,
                    yerr=[e['teacher_mAP_std'] if e else 0 for e in entries], label=method, capsize=3)
    axes[0].set_xticks([i + width for i in range(len(datas))], datas)
    axes[0].set_ylabel('val bbox mAP (EMA teacher)')
    axes[0].legend()
    for run_dir in sorted(glob.glob(osp.join(out_dir, '*', 'seed*', 'soft_teacher'))):
        curves = pseudo_label_curves(run_dir)
        label = osp.relpath(osp.dirname(run_dir), out_dir)
        for key, style in (('precision_cls', '-'), ('recall_cls', '--')):
            if curves.get(key):
                its, values = zip(*curves[key])
                axes[1].plot(its, values, style, label=f'{label} {key}')
    axes[1].set_xlabel('iteration of the Soft Teacher run')
    axes[1].set_ylabel('pseudo-label precision / recall vs hidden GT')
    if axes[1].lines:
        axes[1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
