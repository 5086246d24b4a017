"""Reaching into the model from a hook: unwrap model wrappers, read/set a dotted attribute path.

A path such as ``'semi_train_cfg.unsup_weight'`` is walked part by part: a part is a key when the
object is a mapping (``dict``, mmengine ``ConfigDict``) and an attribute otherwise.
"""
from collections.abc import Mapping, MutableMapping
from typing import Any, Tuple

from mmengine.model import is_model_wrapper

_MISSING = object()


def unwrap_model(model: Any) -> Any:
    """The model inside a DDP / mmengine model wrapper, or the model itself."""
    return model.module if is_model_wrapper(model) else model


def _child(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, _MISSING)
    return getattr(obj, key, _MISSING)


def _resolve_parent(model: Any, path: str) -> Tuple[Any, str]:
    """Object holding the last part of ``path`` and that part; errors name the missing part."""
    parts = path.split('.')
    obj = model
    for depth, key in enumerate(parts):
        child = _child(obj, key)
        if child is _MISSING:
            walked = '.'.join(parts[:depth]) or '<model>'
            raise AttributeError(
                f'the model ({type(model).__name__}) has no attribute {path!r}: '
                f'{walked} ({type(obj).__name__}) has no attribute or key {key!r}')
        if depth == len(parts) - 1:
            return obj, key
        obj = child
    raise AssertionError('unreachable')


def set_by_path(model: Any, path: str, value: Any) -> None:
    """Set ``model.<path>`` (dotted, mapping-aware) to ``value``."""
    parent, key = _resolve_parent(model, path)
    if isinstance(parent, MutableMapping):
        parent[key] = value
    else:
        setattr(parent, key, value)


def get_by_path(model: Any, path: str) -> Any:
    """Read ``model.<path>`` (dotted, mapping-aware)."""
    parent, key = _resolve_parent(model, path)
    return _child(parent, key)
