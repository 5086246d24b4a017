"""Plot training curves (losses, pseudo-label precision/recall, mAP) of runs as PNG files.

    python tools/analysis/plot_curves.py WORK_DIR_OR_JSON [...] [--out DIR] [--keys GROUP ...]
                                         [--size W H]

Input
    mmengine's ``LocalVisBackend`` writes ``<work_dir>/<timestamp>/vis_data/scalars.json``: one JSON
    object per line (checked on a real run of the synthetic SoftTeacher config). A training line holds
    the scalars of one logging interval -- ``lr``, ``loss``, ``sup_loss_cls``, ``pseudo/precision_cls``,
    ``time``, ... (mmengine's ``LogProcessor`` strips the ``train/`` of message-hub keys such as
    ``train/pseudo/...``) -- plus ``iter`` and ``step``, both the iteration counted from 1. A validation
    line holds the metrics (``coco/bbox_mAP``, ``teacher/coco/bbox_mAP``, ...) and ``step`` but no
    ``iter``. Every series is plotted against the iteration: ``step``, except for a validation line whose
    ``step`` is smaller than the iteration of the training line before it -- mmengine's ``LoggerHook``
    writes the *epoch* there unless ``log_metric_by_epoch=False`` (always 0 in iteration-based
    training) -- which is placed at that training iteration, i.e. the iteration after which it ran.

    A positional argument is a work dir (every ``*/vis_data/scalars.json`` below it is read, in the
    order of the timestamp folders, so a resumed run continues its first part) or one such JSON-lines
    file. Each positional argument is one *run*; with several runs every line is labelled
    ``<run>: <key>`` so that runs can be compared on one figure.

Groups
    One PNG per group. A group is ``NAME=PATTERN[,PATTERN...]`` (``fnmatch`` glob patterns over the
    scalar keys, ``*`` matches ``/`` too) or a bare ``PATTERN[,PATTERN...]`` (named after the pattern).
    The default groups (:data:`DEFAULT_GROUPS`) are the losses, pseudo-label precision/recall,
    pseudo boxes per image, other pseudo-label statistics, and the COCO bbox mAP values (of the plain,
    ``teacher/`` and ``student/`` evaluations). A group whose patterns match no key is skipped with a
    message; when no group matches anything the tool stops and lists the keys that exist.

Output
    ``<out>/<group name>.png`` (default ``<first work dir>/curves``), ``W x H`` pixels (default
    800 x 450). Rendering uses matplotlib's non-interactive Agg backend (no display needed).
"""
import fnmatch
import glob
import json
import math
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

#: Default groups: name -> glob patterns over the scalar keys.
DEFAULT_GROUPS = OrderedDict([
    ('losses', ['*loss*']),
    ('pseudo_precision_recall', ['*pseudo/precision*', '*pseudo/recall*']),
    ('pseudo_boxes_per_image', ['*pseudo/*_per_img', '*pseudo/*_per_img/*']),
    ('pseudo_statistics', ['*pseudo/*_mean']),
    ('bbox_mAP', ['*bbox_mAP*']),
])
#: Keys that describe a line rather than being a logged quantity.
STEP_KEYS = ('step', 'iter', 'epoch')
#: CocoMetric's value for an mAP that is undefined (no GT box of that size range).
COCO_UNDEFINED = -1.0
DPI = 100

Series = Tuple[List[float], List[float]]  # (steps in iterations, values)


class CurveInputError(ValueError):
    """An input path or log line that cannot be read, with what to do about it."""


def find_scalar_files(path: str) -> List[str]:
    """The JSON-lines files of ``path``: itself if it is a file, else ``*/vis_data/scalars.json``
    below the work dir (sorted, i.e. in timestamp order)."""
    if osp.isfile(path):
        if path.endswith('.log'):
            raise CurveInputError(
                f'{path} is a text log; pass the work dir or its <timestamp>/vis_data/scalars.json '
                f'(one JSON object per line), which mmengine writes next to it')
        return [path]
    if not osp.isdir(path):
        raise CurveInputError(f'{path} does not exist; pass a work dir or a vis_data/scalars.json file')
    files = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not files and osp.isfile(osp.join(path, 'vis_data', 'scalars.json')):
        files = [osp.join(path, 'vis_data', 'scalars.json')]
    if not files and osp.isfile(osp.join(path, 'scalars.json')):
        files = [osp.join(path, 'scalars.json')]
    if not files:
        raise CurveInputError(f'no <timestamp>/vis_data/scalars.json under {path}; is it the work dir '
                              f'of a run that logged at least one iteration?')
    return files


def read_records(files: Sequence[str]) -> List[dict]:
    """All JSON objects of the files, in order. Blank lines are skipped; a line that is not a JSON
    object with a numeric ``step`` is an error naming the file and line."""
    records = []
    for path in files:
        with open(path) as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise CurveInputError(f'{path}, line {number}: not JSON ({error.msg}); expected '
                                          f"mmengine's scalars.json, one object per line") from None
                if not isinstance(record, dict) or not isinstance(record.get('step'), (int, float)):
                    raise CurveInputError(f'{path}, line {number}: no numeric "step" field; expected '
                                          f"mmengine's scalars.json, one object per line")
                records.append(record)
    return records


def scalar_series(records: Sequence[dict]) -> Dict[str, Series]:
    """Every numeric key of ``records`` as ``(iterations, values)``, in record order.

    Training lines (with ``iter``) are at their ``step``; validation lines at theirs, or at the
    iteration of the preceding training line when their ``step`` is smaller (an epoch, see the module
    docstring). When an iteration repeats for a key (a resumed run that re-logged it), the later value
    replaces the earlier one. COCO's "undefined" mAP (-1, e.g. no large objects) becomes NaN; non-finite
    values are kept (matplotlib leaves a gap)."""
    by_key: Dict[str, 'OrderedDict[float, float]'] = OrderedDict()
    last_train_step = None
    for record in records:
        step = record['step']
        if 'iter' in record:
            last_train_step = step
        elif last_train_step is not None and step < last_train_step:
            step = last_train_step
        for key, value in record.items():
            if key in STEP_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if value == COCO_UNDEFINED and 'mAP' in key:
                value = math.nan
            by_key.setdefault(key, OrderedDict())[step] = float(value)
    return {key: (list(points.keys()), list(points.values())) for key, points in by_key.items()}


def parse_group(text: str) -> Tuple[str, List[str]]:
    """``NAME=PAT[,PAT]`` or ``PAT[,PAT]`` -> (name, patterns); the name is safe as a file name."""
    name, sep, patterns = text.partition('=')
    if not sep:
        name, patterns = text, text
    patterns = [p.strip() for p in patterns.split(',') if p.strip()]
    if not patterns:
        raise CurveInputError(f'--keys {text!r}: no pattern; use NAME=PATTERN[,PATTERN] or PATTERN')
    safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('_.') or 'curves'
    return safe, patterns


def select_keys(keys: Sequence[str], patterns: Sequence[str]) -> List[str]:
    """Keys matching any pattern (case-sensitive glob), in the order of ``keys``."""
    return [key for key in keys if any(fnmatch.fnmatchcase(key, p) for p in patterns)]


def group_series(runs: Dict[str, Dict[str, Series]],
                 groups: Dict[str, Sequence[str]]) -> Dict[str, Dict[str, Series]]:
    """Per group, the plotted lines ``{label: (steps, values)}``; groups without a line are left out.

    ``runs`` maps a run label to its :func:`scalar_series`. With one run a label is the key, with
    several it is ``<run>: <key>``. A key without any finite value is not drawn."""
    out = OrderedDict()
    for name, patterns in groups.items():
        lines = OrderedDict()
        for run, series in runs.items():
            for key in select_keys(list(series), patterns):
                if not any(math.isfinite(v) for v in series[key][1]):
                    continue  # nothing to draw (e.g. an mAP that is always undefined)
                lines[key if len(runs) == 1 else f'{run}: {key}'] = series[key]
        if lines:
            out[name] = lines
    return out


def plot_group(name: str, lines: Dict[str, Series], path: str, size: Tuple[int, int]) -> None:
    """One figure of ``size`` (width, height) pixels: the lines over iterations, with a legend."""
    fig = plt.figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    try:
        ax = fig.add_subplot(1, 1, 1)
        for label, (steps, values) in lines.items():
            # A single point (e.g. one validation) would be invisible as a line.
            ax.plot(steps, values, label=label, marker='o' if len(steps) < 20 else None,
                    markersize=3, linewidth=1.2)
        ax.set_xlabel('iteration')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize='small', loc='best')
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)  # no bbox_inches='tight': the PNG keeps exactly `size` pixels
    finally:
        plt.close(fig)


def run_label(path: str) -> str:
    """A short name for a run: the work dir's name (or, for a file, the name of the run folder)."""
    path = osp.normpath(osp.abspath(path))
    if osp.isfile(path):
        parts = path.split(os.sep)
        # <work_dir>/<timestamp>/vis_data/scalars.json -> work_dir
        if len(parts) >= 4 and parts[-2] == 'vis_data':
            return parts[-4]
        return osp.splitext(parts[-1])[0]
    return osp.basename(path)


def plot_curves(paths: Sequence[str], out_dir: str,
                groups: Optional[Dict[str, Sequence[str]]] = None,
                size: Tuple[int, int] = (800, 450), print_fn=print) -> Dict[str, dict]:
    """Read the runs at ``paths``, write one PNG per group to ``out_dir``.

    Returns ``{group: {'png': path, 'lines': {label: (steps, values)}}}`` -- exactly the data drawn.
    """
    groups = DEFAULT_GROUPS if groups is None else groups
    if size[0] < 100 or size[1] < 100:
        raise CurveInputError(f'--size {size[0]} {size[1]}: at least 100 x 100 pixels')
    runs = OrderedDict()
    for path in paths:
        label = run_label(path)
        while label in runs:  # two work dirs with the same name
            label += "'"
        runs[label] = scalar_series(read_records(find_scalar_files(path)))
    grouped = group_series(runs, groups)
    for name in groups:
        if name not in grouped:
            print_fn(f'{name}: no key matches {list(groups[name])}, no plot')
    if not grouped:
        keys = sorted({key for series in runs.values() for key in series})
        raise CurveInputError(f'no logged key matches any group; keys in the logs: {keys}')
    os.makedirs(out_dir, exist_ok=True)
    result = OrderedDict()
    for name, lines in grouped.items():
        png = osp.join(out_dir, f'{name}.png')
        plot_group(name, lines, png, size)
        result[name] = dict(png=png, lines=lines)
        finite = sum(1 for _, values in lines.values() for v in values if math.isfinite(v))
        print_fn(f'{png}: {len(lines)} curve(s), {finite} point(s)')
    return result


def default_out_dir(paths: Sequence[str]) -> str:
    """``<first work dir>/curves`` (or ``curves`` beside the first JSON file)."""
    first = paths[0]
    return osp.join(first if osp.isdir(first) else osp.dirname(osp.abspath(first)), 'curves')
