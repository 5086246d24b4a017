"""Formats a config's text with yapf once, not at every read of ``Config.pretty_text``.

mmengine 0.10.7's ``Config.pretty_text`` rebuilds the config's Python text and runs yapf on it at every
access, and a Runner reads it about six times per run (start-up log, the config dump in the work dir,
each visualisation backend, checkpoint meta). On a 2-core CPU machine one yapf pass over a
semi-supervised config takes about 3 s of CPU, so most of a short run's start-up went into formatting the
same text again and again. :func:`install` (called when ``ssod`` is imported) wraps the ``FormatCode``
function that mmengine's config module calls with a small least-recently-used cache keyed by the exact
unformatted text and the style: the output is identical, a changed config is formatted anew.
"""
from collections import OrderedDict

from mmengine.config import config as mmengine_config_module

#: Distinct config texts kept (a process rarely holds more than a few configs at a time).
CACHE_SIZE = 8


def cached(format_code, cache_size: int = CACHE_SIZE):
    """``format_code`` (yapf's ``FormatCode`` signature) with an LRU cache of its results."""
    results = OrderedDict()

    def format_code_cached(unformatted_source, style_config=None, **kwargs):
        key = (unformatted_source, repr(style_config), repr(sorted(kwargs.items())))
        if key in results:
            results.move_to_end(key)
            return results[key]
        result = format_code(unformatted_source, style_config=style_config, **kwargs)
        results[key] = result
        if len(results) > cache_size:
            results.popitem(last=False)
        return result

    format_code_cached.__wrapped__ = format_code
    format_code_cached.cache = results
    return format_code_cached


def install() -> None:
    """Replace the ``FormatCode`` that mmengine's config module uses with the cached one (idempotent)."""
    current = mmengine_config_module.FormatCode
    if not hasattr(current, 'cache'):
        mmengine_config_module.FormatCode = cached(current)
