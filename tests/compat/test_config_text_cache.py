"""Config text is formatted by yapf once per distinct text; the text itself is unchanged."""
from mmengine.config import Config
from mmengine.config import config as mmengine_config_module

import ssod  # noqa: F401
from ssod.compat.config_text_cache import cached


def test_importing_ssod_installs_the_cache_once():
    installed = mmengine_config_module.FormatCode
    assert hasattr(installed, 'cache')
    ssod.compat.config_text_cache.install()
    assert mmengine_config_module.FormatCode is installed


def test_each_distinct_text_is_formatted_once_and_the_output_is_identical():
    calls = []

    def format_code(source, style_config=None, **kwargs):
        calls.append(source)
        return source.upper(), True

    format_cached = cached(format_code, cache_size=2)
    assert format_cached('a = 1', style_config={'x': 1}) == ('A = 1', True)
    assert format_cached('a = 1', style_config={'x': 1}) == ('A = 1', True)
    assert calls == ['a = 1']
    assert format_cached('a = 1', style_config={'x': 2}) == ('A = 1', True)  # other style: formatted
    assert format_cached('b = 2', style_config={'x': 1}) == ('B = 2', True)  # evicts the oldest
    assert format_cached('a = 1', style_config={'x': 1}) == ('A = 1', True)
    assert calls == ['a = 1', 'a = 1', 'b = 2', 'a = 1']
    assert len(format_cached.cache) == 2


def test_pretty_text_is_the_real_yapf_output_and_follows_changes():
    cfg = Config(dict(model=dict(type='FasterRCNN', depth=18), items=[1, 2, 3]))
    first = cfg.pretty_text
    assert first == cfg.pretty_text
    cache = mmengine_config_module.FormatCode.cache
    sources = [key[0] for key, result in cache.items() if result[0] == first]
    assert sources, 'pretty_text did not go through the cache'
    style = dict(based_on_style='pep8', blank_line_before_nested_class_or_def=True,
                 split_before_expression_after_opening_paren=True)
    yapf_format = mmengine_config_module.FormatCode.__wrapped__
    assert yapf_format(sources[-1], style_config=style)[0] == first  # same as yapf without the cache
    cfg.model.depth = 50
    assert 'depth=50' in cfg.pretty_text and 'depth=50' not in first
