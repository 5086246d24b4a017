"""Checkpoint files on a local disk: atomic writes, completeness checks, finding the one to resume.

Upstream behaviour worked around (mmengine 0.10.7): ``CheckpointHook`` writes ``iter_N.pth`` in place
and deletes the oldest kept checkpoint before the new one is complete, and ``--resume`` (auto) trusts
whatever ``last_checkpoint`` names; a job killed during a save can leave no usable checkpoint at all.
ssod's ``CheckpointHook`` (:mod:`ssod.engine.hooks.atomic_checkpoint`) and the loader
(:func:`ssod.compat.checkpoint_safety.load_local_checkpoint`) use these helpers; nothing here is
patched into mmengine at import time. A killed job must never leave the work dir without a usable
checkpoint. The rules:

* :func:`commit_file` / :func:`atomic_write_text`: a file is first written completely under a
  temporary name in the same folder (``<name>.tmp``), flushed and ``fsync``-ed, and then renamed over
  its final name (``os.replace``, atomic on POSIX file systems); the folder is ``fsync``-ed so that the
  rename itself survives a power loss. A reader sees either the old file or the complete new one.
* :func:`checkpoint_problem`: why a file is not a complete checkpoint ('' when it is). torch saves a
  zip archive; a complete one has its central directory at the end and every record's CRC matches,
  which is checked without unpickling anything.
* :func:`find_resume_checkpoint`: the checkpoint ``--resume`` (auto) should continue from: the file
  named in ``last_checkpoint`` if it is complete, else the newest complete ``iter_N.pth`` /
  ``epoch_N.pth`` (highest N), with the reason for every file passed over.
"""
import os
import os.path as osp
import re
import zipfile
from typing import Iterable, List, Optional, Tuple

TMP_SUFFIX = '.tmp'
LAST_CHECKPOINT = 'last_checkpoint'


def fsync_dir(folder: str) -> None:
    """Make a rename/creation/deletion inside ``folder`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder or '.', os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: str) -> None:
    """Flush the data of the (already written and closed) file ``path`` to the disk."""
    with open(path, 'rb+') as f:
        os.fsync(f.fileno())


def commit_file(tmp_path: str, path: str) -> None:
    """Make the complete file ``tmp_path`` durable and rename it to ``path`` (same folder)."""
    fsync_file(tmp_path)
    os.replace(tmp_path, path)
    fsync_dir(osp.dirname(path))


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old content or all of the new one."""
    tmp_path = path + TMP_SUFFIX
    with open(tmp_path, 'w', encoding='utf-8') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp_path, path)
    fsync_dir(osp.dirname(path))


def remove_temporary_files(folder: str) -> List[str]:
    """Delete the ``*.pth.tmp`` and ``last_checkpoint.tmp`` files that a killed save left in ``folder``."""
    removed = []
    if not osp.isdir(folder):
        return removed
    for name in sorted(os.listdir(folder)):
        if name.endswith('.pth' + TMP_SUFFIX) or name == LAST_CHECKPOINT + TMP_SUFFIX:
            path = osp.join(folder, name)
            if osp.isfile(path):
                os.remove(path)
                removed.append(path)
    return removed


def checkpoint_problem(path: str, verify_crc: bool = True) -> str:
    """Why ``path`` is not a complete torch checkpoint archive, or '' if it is one.

    Reads the zip central directory (a file cut short has none) and, with ``verify_crc``, every
    record's CRC. Nothing is unpickled. Checkpoints in torch's legacy (non-zip) format are reported
    as not being archives; ssod and mmengine (torch >= 1.6) never write that format.
    """
    if not osp.exists(path):
        return 'does not exist'
    if not osp.isfile(path):
        return 'is not a file'
    size = osp.getsize(path)
    if size == 0:
        return 'is empty (0 bytes)'
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(name.endswith('/data.pkl') or name == 'data.pkl' for name in names):
                return f'is a zip archive ({size} bytes) without data.pkl, not a torch checkpoint'
            if verify_crc:
                bad = archive.testzip()
                if bad is not None:
                    return f'is corrupt ({size} bytes): the CRC of its record {bad} does not match'
    except zipfile.BadZipFile as error:
        return (f'is truncated or not a torch checkpoint ({size} bytes; the zip archive cannot be '
                f'read: {error})')
    except (OSError, EOFError, ValueError) as error:  # a record cut short, an unreadable file
        return f'cannot be read completely ({size} bytes): {error}'
    return ''


def step_pattern(filename_tmpl: str) -> 're.Pattern':
    """The regular expression of checkpoint names made from ``filename_tmpl`` (``'iter_{}.pth'``)."""
    return re.compile('^' + re.escape(filename_tmpl).replace(r'\{\}', r'(\d+)') + '$')


def numbered_checkpoints(folder: str, filename_tmpl: str) -> List[Tuple[int, str]]:
    """(step, path) of the files in ``folder`` named by ``filename_tmpl``, highest step first."""
    if not osp.isdir(folder):
        return []
    pattern = step_pattern(filename_tmpl)
    found = []
    for name in os.listdir(folder):
        match = pattern.match(name)
        if match:
            found.append((int(match.group(1)), osp.join(folder, name)))
    return sorted(found, reverse=True)


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The path that ``work_dir/last_checkpoint`` names, or None (no file, or an empty one)."""
    path = osp.join(work_dir, LAST_CHECKPOINT)
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        named = f.read().strip()
    return named or None


def find_resume_checkpoint(work_dir: str, folders: Iterable[str],
                           filename_tmpl: str = 'iter_{}.pth',
                           verify_crc: bool = True) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """The checkpoint to resume from and the ``(path, reason)`` of every candidate passed over.

    Candidates, in order: the file named in ``work_dir/last_checkpoint``; then the files of
    ``folders`` named by ``filename_tmpl``, highest step first. The first complete one wins
    (:func:`checkpoint_problem`). ``(None, skipped)`` when none is complete.
    """
    candidates: List[str] = []
    named = read_last_checkpoint(work_dir)
    if named is not None:
        candidates.append(named)
    numbered: List[Tuple[int, str]] = []
    for folder in dict.fromkeys(folders):  # unique, in order
        numbered += numbered_checkpoints(folder, filename_tmpl)
    for _, path in sorted(numbered, reverse=True):
        if all(osp.abspath(path) != osp.abspath(c) for c in candidates):
            candidates.append(path)
    skipped: List[Tuple[str, str]] = []
    for path in candidates:
        problem = checkpoint_problem(path, verify_crc=verify_crc)
        if not problem:
            return path, skipped
        reason = problem
        if path == named:
            reason += f' (named in {osp.join(work_dir, LAST_CHECKPOINT)})'
        skipped.append((path, reason))
    return None, skipped


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is incomplete or damaged."""


def corrupt_checkpoint_error(path: str, error: Exception) -> Exception:
    """The error to raise when torch cannot read ``path``: a :class:`CorruptCheckpointError` naming
    the file, what is wrong with it and what to do, or ``error`` itself when the file looks intact."""
    problem = checkpoint_problem(path, verify_crc=False)
    if not problem:
        return error
    return CorruptCheckpointError(
        f'cannot load checkpoint {path}: it {problem}. It was probably written by a save that did not '
        f'finish. To continue training, resume without a path (tools/train.py CONFIG --resume), which '
        f'picks the newest complete checkpoint of the work dir, or name an older checkpoint.')
