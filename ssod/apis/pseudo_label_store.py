"""The resumable store of a pseudo-label run: one JSON line per finished image, per rank.

Layout, next to the output file ``out``::

    <out>.parts/run.json        what the run labels with (config, checkpoint, images, options)
    <out>.parts/rank<R>.jsonl   one line per image rank R finished: {"image": {...}, "annotations": [...]}

Each line is written whole and then flushed and ``fsync``-ed, so a killed process loses at most the
image it was on; the last line of a file may then be cut short. At start a rank cuts its own file back
to its last complete line (that image is labeled again) and every rank reads the complete lines of all
rank files (so a resume may use another number of ranks). ``run.json`` ties the folder to one set of
inputs: a later run with other inputs is refused instead of mixing two models' labels.
"""
import json
import os
import os.path as osp
import re
import shutil
from typing import Dict, List

from ssod.compat.checkpoint_files import atomic_write_text, fsync_dir
from .pseudo_label_images import PseudoLabelError

PARTS_SUFFIX = '.parts'
RUN_FILE = 'run.json'
RANK_FILE = re.compile(r'^rank(\d+)\.jsonl$')


def parts_dir(out: str) -> str:
    return out + PARTS_SUFFIX


def rank_file(out: str, rank: int) -> str:
    return osp.join(parts_dir(out), f'rank{rank}.jsonl')


def start_run(out: str, run: dict) -> None:
    """Create the parts folder and its ``run.json`` (rank 0, before the other ranks look at it); a
    folder left by a run with other inputs is kept as it is for :func:`check_run` to refuse."""
    folder = parts_dir(out)
    try:
        os.makedirs(folder, exist_ok=True)
        if not osp.isfile(osp.join(folder, RUN_FILE)):
            atomic_write_text(osp.join(folder, RUN_FILE), json.dumps(run, sort_keys=True))
    except OSError as error:
        raise PseudoLabelError(f'--out {out}: cannot write next to it ({error.strerror or error}); '
                               f'choose a writable folder') from None


def check_run(out: str, run: dict) -> None:
    """Refuse a parts folder written for other inputs (``run`` as given to :func:`start_run`)."""
    path = osp.join(parts_dir(out), RUN_FILE)
    try:
        with open(path, encoding='utf-8') as f:
            previous = json.load(f)
    except (OSError, ValueError) as error:
        raise PseudoLabelError(f'{path} cannot be read ({error}); delete {parts_dir(out)} to start '
                               f'over') from None
    if previous != json.loads(json.dumps(run, sort_keys=True)):
        changed = sorted(key for key in set(previous) | set(run) if previous.get(key) != run.get(key))
        raise PseudoLabelError(f'{parts_dir(out)} holds the finished images of a run with other inputs '
                               f'({", ".join(changed)} differ); delete it to start over, or run again '
                               f'with the same inputs to continue it')


def _complete_lines(path: str) -> List[bytes]:
    """The complete (newline-terminated) lines of ``path``; a cut-off last line is left out."""
    with open(path, 'rb') as f:
        data = f.read()
    return data.split(b'\n')[:-1]


def _parse(path: str, number: int, line: bytes) -> dict:
    try:
        entry = json.loads(line)
        int(entry['image']['id'])
        list(entry['annotations'])
    except (ValueError, KeyError, TypeError) as error:
        raise PseudoLabelError(f'{path}, line {number}: not a finished image ({error}); delete '
                               f'{osp.dirname(path)} to start over') from None
    return entry


def repair_rank_file(out: str, rank: int) -> None:
    """Cut this rank's file back to its last complete line (what a kill during a write leaves)."""
    path = rank_file(out, rank)
    if not osp.isfile(path):
        return
    complete = sum(len(line) + 1 for line in _complete_lines(path))
    if complete != osp.getsize(path):
        with open(path, 'rb+') as f:
            f.truncate(complete)
            f.flush()
            os.fsync(f.fileno())


def read_finished(out: str) -> Dict[int, dict]:
    """Image id -> its entry, over the complete lines of every rank file (the first line wins)."""
    folder = parts_dir(out)
    finished = {}
    names = sorted(name for name in os.listdir(folder) if RANK_FILE.match(name)) if osp.isdir(folder) else []
    for name in names:
        path = osp.join(folder, name)
        for number, line in enumerate(_complete_lines(path), start=1):
            entry = _parse(path, number, line)
            finished.setdefault(int(entry['image']['id']), entry)
    return finished


class RankWriter:
    """Appends finished images to this rank's file, each line flushed and ``fsync``-ed."""

    def __init__(self, out: str, rank: int) -> None:
        self.path = rank_file(out, rank)
        self._file = open(self.path, 'ab')

    def append(self, entry: dict) -> None:
        self._file.write(json.dumps(entry).encode('utf-8') + b'\n')
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> 'RankWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def remove_parts(out: str) -> None:
    """Delete the parts folder once ``out`` is written."""
    shutil.rmtree(parts_dir(out), ignore_errors=True)
    fsync_dir(osp.dirname(osp.abspath(out)))
