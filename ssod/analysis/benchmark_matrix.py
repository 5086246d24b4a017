"""Collect the percents x folds matrix of a partial-label benchmark and print mean ± std per percent.

    python tools/analysis/benchmark_matrix.py [--work-dirs PATTERN_OR_DIR ...] [--percents 1 2 5 10]
        [--folds 1 2 3 4 5] [--metric bbox_mAP] [--prefer teacher/] [--select last|best]
        [--format plain|markdown] [--scale 100] [--digits 2]
        [--print-commands] [--config-pattern PATTERN] [--train-command PREFIX]

The COCO partial-label protocol (STAC, Soft Teacher) trains every labeled percent on 5 folds and reports
the mean over the folds. This tool reads the finished (or running) runs and prints one row per percent:
the value of every fold, ``mean ± std`` over the folds that have a value (``std`` is the sample standard
deviation, ddof = 1; undefined for a single run) and their count ``n``. Missing runs are shown as ``-``,
left out of the mean, and listed with the reason below the table.

Runs (``--work-dirs``)
    * A *pattern* contains ``{percent}`` and/or ``{fold}``; it is filled in for every cell of the matrix
      (percent written as in the split files: ``10``, ``0.5``), and may contain glob characters as long
      as at most one folder matches. The default is the work dir the COCO configs choose without
      ``--work-dir``:
      ``work_dirs/soft_teacher_faster_rcnn_r50_caffe_fpn_coco_{percent}pct_180k/fold{fold}``.
    * Any other argument is a run folder (shell globs are expanded here too, so they may be quoted). Its
      percent and fold are read from the config that mmengine saved with the run (the top-level values
      ``percent = ...`` and ``fold = ...`` of ``<run>/<timestamp>/vis_data/config.py`` or ``<run>/*.py``,
      which include ``--cfg-options``), else found in the run's path or config file name by
      ``--percent-regex`` / ``--fold-regex``. Two runs for one cell are an error.
    * Rows and columns are ``--percents`` / ``--folds`` exactly when given; by default 1 2 5 10 and 1-5,
      plus the percent and fold of every listed run folder.

Metric
    mmengine's ``LocalVisBackend`` writes ``<run>/<timestamp>/vis_data/scalars.json``, one JSON object
    per line; a validation line holds the metrics (``coco/bbox_mAP``, or ``teacher/coco/bbox_mAP`` and
    ``student/coco/bbox_mAP`` for teacher + student validation) and ``step`` (iterations). Every
    timestamp folder of a run is read, in time order, so a resumed run continues its first part; where a
    folder has no ``scalars.json``, its ``vis_data/<timestamp>.json`` (LoggerHook's JSON log, the same
    lines) is read instead. ``--metric`` is a full key or its last part(s): ``bbox_mAP`` matches
    ``coco/bbox_mAP`` and ``teacher/coco/bbox_mAP`` but not ``coco/bbox_mAP_50``. When a run has several
    matching keys, the ones starting with ``--prefer`` (default ``teacher/``: the model the papers
    report) are used; if that still leaves several, it is an error asking for a longer ``--metric``.
    ``--select last`` (default) takes the last evaluation (the final model, what the papers report);
    ``best`` the highest. Values are multiplied by ``--scale`` (default 100: COCO mAP in percent).

Missing runs
    ``--print-commands`` prints a training command for every missing cell: ``--train-command`` (default
    ``python tools/train.py``) followed by the config (``--config-pattern``, filled in like a work-dir
    pattern), ``--work-dir`` (when the work dirs are a pattern) and ``--cfg-options fold=N``. For 8 GPUs
    use ``--train-command 'bash tools/dist_train.sh {config} 8'`` (``{config}`` puts the config there).

Errors in the arguments or the logs (an unreadable log line, an ambiguous metric or cell) raise
:class:`BenchmarkError`; the tool prints ``error: ...`` and returns 2.
"""
import glob
import json
import math
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

DEFAULT_PERCENTS = (1.0, 2.0, 5.0, 10.0)
DEFAULT_FOLDS = (1, 2, 3, 4, 5)
COCO_CONFIG_NAME = 'soft_teacher_faster_rcnn_r50_caffe_fpn_coco_{percent}pct_180k'
DEFAULT_WORK_DIRS = f'work_dirs/{COCO_CONFIG_NAME}/fold{{fold}}'
DEFAULT_CONFIG_PATTERN = f'configs/soft_teacher/{COCO_CONFIG_NAME}.py'
DEFAULT_PERCENT_REGEX = r'(\d+(?:\.\d+)?)(?:pct|percent)'
DEFAULT_FOLD_REGEX = r'fold[_-]?(\d+)'
MISSING = '-'


class BenchmarkError(ValueError):
    """Arguments or run logs that cannot give a well-defined matrix."""


@dataclass
class Cell:
    """One (percent, fold) run: its folder (if known), its value, or why there is none."""
    work_dir: Optional[str] = None
    value: Optional[float] = None
    key: Optional[str] = None
    step: Optional[int] = None
    reason: str = ''


def format_percent(percent: float) -> str:
    """``10.0 -> '10'``, ``0.5 -> '0.5'``: the spelling of the split files and config names."""
    percent = float(percent)
    return str(int(percent)) if percent.is_integer() else repr(percent)


def is_pattern(path: str) -> bool:
    return '{percent}' in path or '{fold}' in path


def fill(pattern: str, percent: float, fold: int) -> str:
    return pattern.replace('{percent}', format_percent(percent)).replace('{fold}', str(fold))


# ------------------------------------------------------------------------------------------ logs

def scalar_files(run_dir: str) -> List[str]:
    """The JSON-lines scalar logs of a run, one per timestamp folder, in time order."""
    files = []
    for vis_dir in sorted(glob.glob(osp.join(glob.escape(run_dir), '*', 'vis_data'))):
        timestamp = osp.basename(osp.dirname(vis_dir))
        for name in ('scalars.json', f'{timestamp}.json'):
            if osp.isfile(osp.join(vis_dir, name)):
                files.append(osp.join(vis_dir, name))
                break
    return files


def read_records(path: str) -> List[dict]:
    """The JSON objects of a JSON-lines file (blank lines skipped)."""
    records = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise BenchmarkError(f'{path}:{number} is not a JSON object ({err}); is the file a '
                                     f'mmengine scalars.json?') from err
            if isinstance(record, dict):
                records.append(record)
    return records


def matching_keys(keys: Sequence[str], metric: str, prefer: str) -> List[str]:
    """Keys equal to ``metric`` or ending in ``/<metric>``, narrowed to ``prefer``-prefixed ones."""
    matches = sorted(k for k in set(keys) if k == metric or k.endswith('/' + metric))
    preferred = [k for k in matches if prefer and k.startswith(prefer)]
    return preferred or matches


def metric_of_run(run_dir: str, metric: str, prefer: str, select: str) -> Cell:
    """The selected value of ``metric`` in the run's logs, or a cell saying why there is none."""
    if not osp.isdir(run_dir):
        return Cell(work_dir=run_dir, reason='no work dir')
    files = scalar_files(run_dir)
    if not files:
        return Cell(work_dir=run_dir, reason='no */vis_data/scalars.json')
    records = [record for path in files for record in read_records(path)]
    keys = matching_keys([k for record in records for k in record], metric, prefer)
    if not keys:
        return Cell(work_dir=run_dir, reason=f'no {metric} logged yet')
    if len(keys) > 1:
        raise BenchmarkError(f'{run_dir}: --metric {metric} matches {keys}; pass one of them as '
                             f'--metric')
    key = keys[0]
    points = [(float(r[key]), r.get('step')) for r in records
              if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    if not points:
        return Cell(work_dir=run_dir, reason=f'{key} has no finite value')
    value, step = points[-1] if select == 'last' else max(points, key=lambda p: p[0])
    return Cell(work_dir=run_dir, value=value, key=key, step=step)


# ------------------------------------------------------------------------------------------ runs

_TOP_LEVEL_NUMBER = r'^{name}\s*=\s*([0-9]+(?:\.[0-9]+)?)\s*$'


def saved_configs(run_dir: str) -> List[str]:
    """Configs mmengine saved with the run: the latest ``vis_data/config.py`` first, then
    ``<run>/*.py``."""
    run = glob.escape(run_dir)
    return (sorted(glob.glob(osp.join(run, '*', 'vis_data', 'config.py')), reverse=True)
            + sorted(glob.glob(osp.join(run, '*.py'))))


def percent_and_fold(run_dir: str, percent_regex: str, fold_regex: str) -> Tuple[float, int]:
    """Percent and fold of a run folder (see 'Runs' in the module docstring)."""
    found: Dict[str, str] = {}
    configs = saved_configs(run_dir)
    for path in configs:
        with open(path) as f:
            text = f.read()
        for name in ('percent', 'fold'):
            match = re.search(_TOP_LEVEL_NUMBER.format(name=name), text, re.MULTILINE)
            if match and name not in found:
                found[name] = match.group(1)
    places = [osp.abspath(run_dir)] + [osp.basename(path) for path in configs]
    for name, regex in (('percent', percent_regex), ('fold', fold_regex)):
        for place in places:
            if name in found:
                break
            match = re.search(regex, place)
            if match:
                found[name] = match.group(1)
    missing = [name for name in ('percent', 'fold') if name not in found]
    if missing:
        raise BenchmarkError(
            f'cannot tell the {" and ".join(missing)} of run {run_dir}: no saved config states it and '
            f'its path does not match --percent-regex / --fold-regex; pass a work-dir pattern with '
            f'{{percent}} and {{fold}} instead')
    return float(found['percent']), int(float(found['fold']))


def resolve_pattern(pattern: str, percent: float, fold: int) -> str:
    """The run folder of one cell: the filled-in pattern, globbed when it has glob characters."""
    path = fill(pattern, percent, fold)
    if not glob.has_magic(path):
        return path
    matches = sorted(p for p in glob.glob(path) if osp.isdir(p))
    if len(matches) > 1:
        raise BenchmarkError(f'{percent:g} % fold {fold}: {pattern} matches {len(matches)} folders '
                             f'{matches[:4]}; make the pattern specific to one run')
    return matches[0] if matches else path


def collect(work_dirs: Sequence[str], percents: Optional[Sequence[float]],
            folds: Optional[Sequence[int]], metric: str, prefer: str, select: str,
            percent_regex: str = DEFAULT_PERCENT_REGEX, fold_regex: str = DEFAULT_FOLD_REGEX
            ) -> Tuple[List[float], List[int], Dict[Tuple[float, int], Cell]]:
    """(percents, folds, cells) of the matrix; every cell has a value or a reason."""
    patterns = [w for w in work_dirs if is_pattern(w)]
    runs: Dict[Tuple[float, int], str] = {}
    for entry in (w for w in work_dirs if not is_pattern(w)):
        for run_dir in (sorted(glob.glob(entry)) if glob.has_magic(entry) else [entry]):
            if not osp.isdir(run_dir):
                if glob.has_magic(entry):
                    continue
                raise BenchmarkError(f'work dir {run_dir} does not exist')
            cell = percent_and_fold(run_dir, percent_regex, fold_regex)
            if cell in runs:
                raise BenchmarkError(f'{format_percent(cell[0])} % fold {cell[1]} has two runs: '
                                     f'{runs[cell]} and {run_dir}')
            runs[cell] = run_dir
    # Explicit rows / columns are exactly those; the defaults grow to every listed run.
    percents = sorted(set(percents) if percents else set(DEFAULT_PERCENTS) | {p for p, _ in runs})
    folds = sorted(set(folds) if folds else set(DEFAULT_FOLDS) | {f for _, f in runs})
    cells = {}
    for percent in percents:
        for fold in folds:
            candidates = ([runs[(percent, fold)]] if (percent, fold) in runs else [])
            candidates += [d for d in (resolve_pattern(p, percent, fold) for p in patterns)
                           if osp.isdir(d)]
            if len(candidates) > 1:
                raise BenchmarkError(f'{format_percent(percent)} % fold {fold} has several runs: '
                                     f'{candidates}')
            if candidates:
                cells[(percent, fold)] = metric_of_run(candidates[0], metric, prefer, select)
            else:
                where = resolve_pattern(patterns[0], percent, fold) if len(patterns) == 1 else None
                cells[(percent, fold)] = Cell(work_dir=where, reason='no work dir')
    return percents, folds, cells


# ------------------------------------------------------------------------------------------ table

def mean_std(values: Sequence[float]) -> Tuple[Optional[float], Optional[float]]:
    """Mean and sample standard deviation (ddof = 1); ``None`` where undefined."""
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def table_rows(percents: Sequence[float], folds: Sequence[int], cells: Dict[Tuple[float, int], Cell],
               scale: float, digits: int) -> List[List[str]]:
    """Header and one row per percent, as strings."""
    rows = [['percent'] + [f'fold {fold}' for fold in folds] + ['mean ± std', 'n']]
    for percent in percents:
        values = [cells[(percent, fold)].value for fold in folds]
        shown = [MISSING if v is None else f'{v * scale:.{digits}f}' for v in values]
        present = [v * scale for v in values if v is not None]
        mean, std = mean_std(present)
        summary = MISSING if mean is None else (
            f'{mean:.{digits}f} ± {MISSING if std is None else f"{std:.{digits}f}"}')
        rows.append([f'{format_percent(percent)} %'] + shown + [summary, str(len(present))])
    return rows


def format_table(rows: List[List[str]], fmt: str) -> str:
    """Rows as a markdown table or as plain columns (numbers right-aligned)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    if fmt == 'markdown':
        lines = ['| ' + ' | '.join(cell.ljust(w) for cell, w in zip(rows[0], widths)) + ' |',
                 '|' + '|'.join(['-' * (widths[0] + 2)] + ['-' * (w + 1) + ':' for w in widths[1:]])
                 + '|']
        lines += ['| ' + ' | '.join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in
                                                                  zip(row[1:], widths[1:])]) + ' |'
                  for row in rows[1:]]
        return '\n'.join(lines)
    return '\n'.join(
        '  '.join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])])
        for row in rows)


def notes(percents: Sequence[float], folds: Sequence[int], cells: Dict[Tuple[float, int], Cell],
          metric: str, select: str) -> List[str]:
    """What the numbers are, and every missing run with its reason."""
    keys = sorted({c.key for c in cells.values() if c.key})
    lines = [f'{select} value of {", ".join(keys) if keys else metric}; mean ± std over the folds '
             f'with a value (sample std, ddof = 1)']
    steps = {(p, f): cells[(p, f)].step
             for p in percents for f in folds if cells[(p, f)].value is not None}
    if len(set(steps.values())) == 1:
        lines.append(f'every value is from iteration {next(iter(steps.values()))}')
    elif steps:
        lines.append('the values come from different iterations (a run still training or stopped '
                     'early?):')
        lines += [f'  {format_percent(p)} % fold {f}: {step}' for (p, f), step in steps.items()]
    missing = [(p, f, cells[(p, f)]) for p in percents for f in folds if cells[(p, f)].value is None]
    if missing:
        lines.append(f'{len(missing)} missing run(s), shown as {MISSING} and excluded from the mean:')
        lines += [f'  {format_percent(p)} % fold {f}: {c.reason}'
                  + (f' ({c.work_dir})' if c.work_dir else '') for p, f, c in missing]
    return lines


def train_commands(percents: Sequence[float], folds: Sequence[int], cells: Dict[Tuple[float, int], Cell],
                   config_pattern: str, train_command: str, work_dirs_are_pattern: bool) -> List[str]:
    """A training command for every missing cell (see 'Missing runs' in the module docstring)."""
    commands = []
    for percent in percents:
        for fold in folds:
            cell = cells[(percent, fold)]
            if cell.value is not None:
                continue
            config = fill(config_pattern, percent, fold)
            command = (train_command.replace('{config}', config) if '{config}' in train_command
                       else f'{train_command} {config}')
            if work_dirs_are_pattern and cell.work_dir:
                command += f' --work-dir {cell.work_dir}'
            commands.append(f'{command} --cfg-options fold={fold}')
    return commands


def check_options(percents: Optional[Sequence[float]], percent_regex: str, fold_regex: str) -> None:
    """:class:`BenchmarkError` for percents outside (0, 100) or a regex without a capturing group."""
    bad = [v for v in percents or [] if not 0 < v < 100]
    if bad:
        raise BenchmarkError(f'--percents must lie in (0, 100), got {bad}')
    for name, regex in (('--percent-regex', percent_regex), ('--fold-regex', fold_regex)):
        try:
            if re.compile(regex).groups < 1:
                raise BenchmarkError(f'{name} needs a group that captures the number: {regex!r}')
        except re.error as err:
            raise BenchmarkError(f'{name} is not a regular expression: {err}') from err


def matrix_report(work_dirs: Sequence[str], percents: Optional[Sequence[float]] = None,
                  folds: Optional[Sequence[int]] = None, metric: str = 'bbox_mAP',
                  prefer: str = 'teacher/', select: str = 'last',
                  percent_regex: str = DEFAULT_PERCENT_REGEX, fold_regex: str = DEFAULT_FOLD_REGEX,
                  scale: float = 100.0, digits: int = 2, fmt: str = 'plain',
                  print_commands: bool = False, config_pattern: str = DEFAULT_CONFIG_PATTERN,
                  train_command: str = 'python tools/train.py') -> str:
    """The table, the notes and (``print_commands``) the commands of the missing runs, as printed by
    ``tools/analysis/benchmark_matrix.py`` (module docstring); raises :class:`BenchmarkError`."""
    check_options(percents, percent_regex, fold_regex)
    percents, folds, cells = collect(work_dirs, percents, folds, metric, prefer, select, percent_regex,
                                     fold_regex)
    parts = [format_table(table_rows(percents, folds, cells, scale, digits), fmt), '',
             '\n'.join(notes(percents, folds, cells, metric, select))]
    if print_commands:
        commands = train_commands(percents, folds, cells, config_pattern, train_command,
                                  all(is_pattern(w) for w in work_dirs))
        parts.append('\ncommands for the missing runs:' if commands else '\nno missing runs')
        parts.append('\n'.join(commands))
    return '\n'.join(parts)
