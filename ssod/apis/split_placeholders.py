"""Fill the ``{fold}`` and ``{percent}`` placeholders of a config after ``--cfg-options`` are merged.

Why: a COCO partial-label benchmark has 4 percents x 5 folds. Instead of 20 config files, a config
declares two top-level values and writes its split files as templates::

    fold = 1
    percent = 10
    ann_file = 'annotations/semi_supervised/instances_train2017.{fold}@{percent}.json'

mmengine evaluates a config file when it is loaded, so a path computed from ``fold`` inside the file
would be frozen before ``--cfg-options fold=3`` is merged. The templates are therefore plain strings,
and :func:`resolve_split_placeholders` (called by :func:`ssod.apis.runner.load_config` for tools/train.py
and tools/test.py, after the merge) replaces ``{fold}`` / ``{percent}`` in every string of the config.
The names follow microsoft/SoftTeacher's split files (``instances_train2017.1@10.json``); ``tools/data/split_coco.py``
writes them.

Rules (each violation is a :class:`~ssod.apis.config_checks.ConfigError` naming the key):

* ``fold`` must be an integer in 1..5 (the 5 seeded splits of the STAC / Soft Teacher protocol);
* ``percent`` must be a number in (0, 100); an integral value is written without decimals (``10``,
  not ``10.0``), otherwise as given (``0.5``);
* a string that contains ``{name}`` with any other identifier ``name``, or a placeholder whose value
  the config does not define, is an error (a typo such as ``{flod}`` must not reach the file system);
* a config without templates is returned unchanged, so every command works on every config.
"""
import re
from typing import Any, Dict, List, Tuple

from mmengine.config import Config

from ssod.data.coco_files import percent_text

from .config_checks import ConfigError

PLACEHOLDERS = ('fold', 'percent')
FOLDS = range(1, 6)
# Named fields only: '{}' or '{:.3f}' (format strings of other components) are left alone.
_FIELD = re.compile(r'\{([A-Za-z_]\w*)\}')


def format_percent(percent: Any) -> str:
    """:func:`percent_text` of a config's ``percent``; anything outside (0, 100) is an error."""
    if isinstance(percent, bool) or not isinstance(percent, (int, float)):
        raise ConfigError(f'percent must be a number in (0, 100), got {percent!r} '
                          f'(e.g. --cfg-options percent=10)')
    if not 0 < percent < 100:
        raise ConfigError(f'percent must be in (0, 100), got {percent!r}')
    return percent_text(percent)


def check_fold(fold: Any) -> str:
    if isinstance(fold, bool) or not isinstance(fold, int) or fold not in FOLDS:
        raise ConfigError(f'fold must be an integer in {FOLDS.start}..{FOLDS.stop - 1}, got {fold!r} '
                          f'(e.g. --cfg-options fold=3)')
    return str(fold)


def _templates(node: Any, path: str) -> List[Tuple[str, str]]:
    """(key path, string) of every string under ``node`` that contains a ``{...}`` field."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _templates(value, f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            found += _templates(value, f'{path}.{index}')
    elif isinstance(node, str) and _FIELD.search(node):
        found.append((path, node))
    return found


def _fill(node: Any, values: Dict[str, str]) -> Any:
    if isinstance(node, dict):
        for key in list(node.keys()):
            node[key] = _fill(node[key], values)
        return node
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if isinstance(node, tuple):
        return tuple(_fill(v, values) for v in node)
    if isinstance(node, str):
        return _FIELD.sub(lambda m: values[m.group(1)], node)
    return node


def split_values(cfg: Config) -> Dict[str, str]:
    """The checked placeholder values the config defines (``{'fold': '3', 'percent': '10'}``)."""
    values = {}
    if cfg.get('fold') is not None:
        values['fold'] = check_fold(cfg.fold)
    if cfg.get('percent') is not None:
        values['percent'] = format_percent(cfg.percent)
    return values


def resolve_split_placeholders(cfg: Config) -> Config:
    """Replace ``{fold}`` / ``{percent}`` in every string of ``cfg`` in place; see the module doc."""
    templates = _templates(cfg._cfg_dict, '')
    values = split_values(cfg)
    for key, text in templates:
        for name in _FIELD.findall(text):
            if name not in PLACEHOLDERS:
                raise ConfigError(
                    f'{key} = {text!r}: unknown placeholder {{{name}}}; the known ones are '
                    f'{", ".join("{" + p + "}" for p in PLACEHOLDERS)}')
            if name not in values:
                raise ConfigError(
                    f'{key} = {text!r} uses {{{name}}}, but the config defines no `{name}`; '
                    f'set it, e.g. --cfg-options {name}={"1" if name == "fold" else "10"}')
    _fill(cfg._cfg_dict, values)
    return cfg
