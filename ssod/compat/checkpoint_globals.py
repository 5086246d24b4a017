"""What a refused checkpoint references, and converting plain mmengine checkpoints without running code.

:func:`pickle_globals` lists every global (``module.name``) a checkpoint's pickle references, by reading
its opcodes (``pickletools``): nothing is unpickled. :func:`refusal_message` uses it to tell apart

* checkpoints of plain mmengine/mmdet runs, which reference only :data:`CONVERTIBLE_GLOBALS` beyond the
  allow-list (``builtins.getattr`` for the statistics functions of a pickled ``HistoryBuffer``,
  ``_codecs.encode`` for numpy scalars, ``collections.Counter``): the message suggests
  ``tools/misc/sanitize_checkpoint.py``;
* anything else (``os.system``, ``subprocess``, ``eval``, unknown modules): the file is refused as unsafe
  and may be malicious; no conversion is suggested.

:func:`load_convertible` is the conversion: ``torch.load(weights_only=True)`` with three more names
allowed, each bound to a restricted stand-in, so the restricted unpickler still runs no code of the
file: ``getattr`` resolves only a ``HistoryBuffer`` statistics method or a numpy type, ``_codecs.encode``
only encodes text to latin-1 bytes, ``Counter`` only builds a ``Counter``.
"""
import _compat_pickle
import collections
import io
import pickletools
import zipfile
from typing import List, Optional

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

#: Globals that plain mmengine/mmdet/numpy checkpoints contain beyond ssod's allow-list.
CONVERTIBLE_GLOBALS = frozenset({'builtins.getattr', '_codecs.encode', 'collections.Counter'})
_STRING_OPS = {'SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8', 'UNICODE', 'SHORT_BINSTRING',
               'BINSTRING', 'STRING'}


def _pickle_bytes(path: str) -> Optional[bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n == 'data.pkl' or n.endswith('/data.pkl')]
            return archive.read(names[0]) if names else None
    except zipfile.BadZipFile:
        with open(path, 'rb') as f:  # torch's legacy format: pickles one after the other
            return f.read()


def _python3_name(module: str, name: str) -> str:
    """``module.name`` as Python 3 resolves a protocol-2 reference (``__builtin__`` -> ``builtins``)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f'{module}.{name}'


def pickle_globals(path: str) -> List[str]:
    """Every ``module.name`` the checkpoint's pickle references, in order of first use.

    ``'<unresolved STACK_GLOBAL>'`` stands for a reference whose name is not a plain string constant
    (never produced by torch.save; a crafted file could do it).
    """
    data = _pickle_bytes(path)
    if not data:
        return []
    found: List[str] = []
    strings: List[Optional[str]] = []
    memo = {}
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            name = opcode.name
            if name == 'GLOBAL' or name == 'INST':
                module, _, attr = str(arg).partition(' ')
                found.append(_python3_name(module, attr))
            elif name == 'STACK_GLOBAL':
                if len(strings) >= 2 and strings[-2] is not None and strings[-1] is not None:
                    found.append(f'{strings[-2]}.{strings[-1]}')
                else:
                    found.append('<unresolved STACK_GLOBAL>')
            if name in _STRING_OPS:
                strings.append(arg if isinstance(arg, str) else None)
            elif name in ('BINPUT', 'LONG_BINPUT', 'PUT'):
                memo[arg] = strings[-1] if strings else None
            elif name == 'MEMOIZE':
                memo[len(memo)] = strings[-1] if strings else None
            elif name in ('BINGET', 'LONG_BINGET', 'GET'):
                strings.append(memo.get(arg))
            elif name not in ('MEMOIZE', 'FRAME'):
                strings.append(None)
    except Exception:  # noqa: B902  (a damaged pickle: report what was read)
        found.append('<unreadable pickle>')
    return list(dict.fromkeys(found))


def unsafe_globals(path: str) -> List[str]:
    """The globals of ``path`` that ``torch.load(weights_only=True)`` does not allow here."""
    allowed = set()
    getter = getattr(torch.serialization, 'get_safe_globals', None)
    for item in (getter() if getter else []):
        obj, name = item if isinstance(item, tuple) else (item, None)
        allowed.add(name or f'{getattr(obj, "__module__", "")}.{getattr(obj, "__qualname__", "")}')
    from torch import _weights_only_unpickler as wou
    allowed |= set(wou._get_allowed_globals().keys())
    return [name for name in pickle_globals(path) if name not in allowed]


def refusal_message(path: str, refused: str, command: str) -> str:
    """The message of a refused checkpoint (see the module docstring for the two cases)."""
    others = unsafe_globals(path)
    names = others or [refused]
    listed = ', '.join(names[:8]) + (f', ... ({len(names)} in all)' if len(names) > 8 else '')
    if all(name in CONVERTIBLE_GLOBALS for name in names):
        return (f'refused to load checkpoint {path}: it references {listed}, which '
                f'torch.load(weights_only=True) does not allow. Checkpoints saved by plain '
                f'mmengine/mmdet runs contain exactly these (their message hub pickles functions and '
                f'numpy scalars); ssod never writes them. Convert the file once (no code of it is '
                f'run): {command}')
    return (f'refused to load checkpoint {path} as unsafe: it references {listed}, which no '
            f'checkpoint saved by ssod, mmengine or mmdet contains; loading it could run code, so the '
            f'file may be malicious. Do not load it with weights_only=False; get the checkpoint again '
            f'from a source you trust.')


# ------------------------------------------------------------------------------------------------
# Restricted stand-ins for the conversion


def _safe_getattr(obj, name):
    """``getattr`` for the two uses in plain mmengine checkpoints, refused for anything else."""
    if not isinstance(name, str) or name.startswith('_'):
        raise pickle_error(f'getattr({obj!r:.60}, {name!r:.60})')
    if obj is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return getattr(HistoryBuffer, name)
    if obj is np or (isinstance(obj, type) and issubclass(obj, (np.generic, np.dtype))):
        value = getattr(obj, name, None)
        if isinstance(value, type) and issubclass(value, (np.generic, np.dtype)):
            return value
    raise pickle_error(f'getattr({obj!r:.60}, {name!r:.60})')


def _safe_encode(text, encoding='utf-8', errors='strict'):
    if not isinstance(text, str) or encoding not in ('latin1', 'latin-1', 'utf-8', 'utf8'):
        raise pickle_error(f'_codecs.encode({text!r:.60}, {encoding!r:.20})')
    return text.encode(encoding, 'strict')


def _safe_counter(*args):
    return collections.Counter(*args)


def pickle_error(what: str) -> Exception:
    import pickle
    return pickle.UnpicklingError(f'refused {what}: not part of a plain mmengine checkpoint')


def load_convertible(path: str):
    """Load a plain mmengine/mmdet checkpoint with the restricted unpickler plus the stand-ins."""
    extra = [(_safe_getattr, 'builtins.getattr'), (_safe_encode, '_codecs.encode'),
             (_safe_counter, 'collections.Counter')]
    with torch.serialization.safe_globals(extra):
        return torch.load(path, map_location='cpu', weights_only=True)
