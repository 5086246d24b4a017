"""Loading the command-line scripts of ``tools/`` and ``benchmarks/`` (not packages) in tests, by path."""
import importlib.util
import os.path as osp
import sys
from types import ModuleType

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_script(relative_path: str, name: str = None) -> ModuleType:
    """The module of the script at ``relative_path`` (from the repository root), executed once under
    ``name`` (default: ``script_<path>``) and registered in ``sys.modules`` (dataclasses look their
    module up there)."""
    name = name or 'script_' + osp.splitext(relative_path)[0].replace('/', '_')
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO_ROOT, relative_path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
