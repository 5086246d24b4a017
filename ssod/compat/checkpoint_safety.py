"""Load checkpoints with ``torch.load(weights_only=True)`` and nothing less safe.

torch >= 2.6 unpickles checkpoints with a restricted unpickler by default, and mmengine 0.10.7 cannot
load its own checkpoints under it. Two things stand in the way, and both are fixed here rather than by
turning ``weights_only`` off (an arbitrary pickle can run code when it is loaded):

1. The message hub stores ``mmengine.logging.HistoryBuffer`` objects holding numpy arrays, and the
   runtime info holds numpy scalars (e.g. ``eta``). These are pure data; their classes and numpy's
   array/scalar reconstructors are added to torch's allow-list (:data:`SAFE_GLOBALS`).
2. ``HistoryBuffer.__getstate__`` also pickles its class-level table of statistics *functions*, which
   the unpickler can only rebuild through ``builtins.getattr``. Allow-listing ``getattr`` would let a
   crafted file reach any attribute of any allowed object, so instead :func:`install` makes
   ``HistoryBuffer`` pickle only its data. The table is rebuilt by every buffer's constructor and by the
   ``register_statistics`` decorators at import time, so nothing is lost.

Checkpoints saved by plain mmengine still contain ``getattr``; loading one raises
:class:`UnsafeCheckpointError`, which names the file and the refused objects. Only when every refused
object is one that plain mmengine/numpy checkpoints contain does it suggest the one-time conversion
(``tools/misc/sanitize_checkpoint.py``, which runs no code of the file); anything else is refused as
unsafe, possibly malicious (:mod:`ssod.compat.checkpoint_globals`).
"""
import os.path as osp
import pickle
import re

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoint_files import CorruptCheckpointError

_numpy_multiarray = getattr(np, '_core', None) or np.core
_numpy_multiarray = _numpy_multiarray.multiarray


def _numpy_dtype_classes() -> list:
    """The concrete dtype classes (``numpy.dtypes.Float64DType`` ...); numpy >= 1.25 pickles their
    instances' state against them. Older numpy has only ``numpy.dtype``."""
    module = getattr(np, 'dtypes', None)
    if module is None:
        return []
    classes = (getattr(module, name) for name in dir(module) if name.endswith('DType'))
    return [cls for cls in classes if isinstance(cls, type) and issubclass(cls, np.dtype)]


#: Everything beyond torch's own allow-list that an ssod/mmengine checkpoint may reference.
#: Each entry is data-only: building it cannot call arbitrary functions (an object array's elements are
#: unpickled, and checked, on their own). numpy 1.x pickles name the reconstructors
#: ``numpy.core.multiarray.*`` and numpy 2.x ``numpy._core.multiarray.*``; both spellings are accepted
#: so checkpoints move between numpy versions.
SAFE_GLOBALS = [
    HistoryBuffer,
    np.ndarray,
    np.dtype,
    *_numpy_dtype_classes(),
    (_numpy_multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
    (_numpy_multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
    (_numpy_multiarray.scalar, 'numpy.core.multiarray.scalar'),
    (_numpy_multiarray.scalar, 'numpy._core.multiarray.scalar'),
]

SANITIZE_COMMAND = 'python tools/misc/sanitize_checkpoint.py {path} {path_out}'


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint references objects outside the allow-list, so it was not loaded."""


#: What loading a local checkpoint raises when it refuses the file (unsafe) or cannot read it (empty,
#: cut off, damaged). Each message names the file and says what to do: tools print it in one line.
CHECKPOINT_LOAD_ERRORS = (UnsafeCheckpointError, CorruptCheckpointError)


def _history_buffer_state(buffer: HistoryBuffer) -> dict:
    """``HistoryBuffer`` state without the statistics-function table (see the module docstring)."""
    state = dict(buffer.__dict__)
    state.pop('statistics_methods', None)
    return state


def refused_global(error: Exception) -> str:
    """The fully qualified name torch's unpickler refused, parsed from its message ('' if none)."""
    match = (re.search(r'GLOBAL ([\w.]+)', str(error))
             or re.search(r"got <class '([\w.]+)'>", str(error)))
    return match.group(1) if match else ''


def load_local_checkpoint(filename: str, map_location=None):
    """mmengine's loader for local paths, with ``weights_only=True`` and a helpful refusal."""
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except (EOFError, RuntimeError) as error:  # 0-byte file; torch's zip reader on a cut-off file
        from .checkpoint_files import corrupt_checkpoint_error
        corrupt = corrupt_checkpoint_error(filename, error)
        if corrupt is error:
            raise
        raise corrupt from error
    except pickle.UnpicklingError as error:
        from .checkpoint_globals import refusal_message
        refused = refused_global(error) or 'an object outside the allow-list'
        stem, ext = osp.splitext(filename)
        command = SANITIZE_COMMAND.format(path=filename, path_out=f'{stem}_safe{ext or ".pth"}')
        raise UnsafeCheckpointError(refusal_message(filename, refused, command)) from error


def install() -> None:
    """Allow-list :data:`SAFE_GLOBALS`, make ``HistoryBuffer`` pickle data only, and route local
    checkpoint loading through :func:`load_local_checkpoint`. Idempotent; called on ``import ssod``."""
    HistoryBuffer.__getstate__ = _history_buffer_state
    if hasattr(torch.serialization, 'add_safe_globals'):  # torch >= 2.4
        torch.serialization.add_safe_globals(SAFE_GLOBALS)
        CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
