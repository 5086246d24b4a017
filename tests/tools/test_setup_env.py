"""tools/setup_env.sh: stops early with a clear message on an unsupported Python or torch, and is a
fast no-op on a ready environment."""
import os
import os.path as osp
import subprocess
import sys
import time
import venv

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SETUP = osp.join(REPO_ROOT, 'tools', 'setup_env.sh')


def run_setup(env_overrides, timeout=120):
    env = {k: v for k, v in os.environ.items() if k not in ('VIRTUAL_ENV', 'SSOD_PYTHON')}
    env.update(env_overrides)
    return subprocess.run(['bash', SETUP], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def fake_interpreter(tmp_path, version):
    """An executable that behaves like the real Python but reports ``version`` as its own."""
    script = tmp_path / 'python'
    script.write_text(
        '#!/bin/sh\n'
        f'exec "{sys.executable}" -c "import sys, runpy; sys.version_info = {version!r}; '
        'sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name=\'__main__\')" "$@"\n')
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize('version', [(3, 13, 0, 'final', 0), (3, 8, 18, 'final', 0)])
def test_unsupported_python_stops_with_message(tmp_path, version):
    result = run_setup({'SSOD_PYTHON': fake_interpreter(tmp_path, version)})
    assert result.returncode == 1
    assert f'Python {version[0]}.{version[1]}' in result.stderr
    assert 'not supported' in result.stderr and '3.9 - 3.12' in result.stderr
    assert 'SSOD_PYTHON=' in result.stderr  # says what to do


def venv_with_fake_torch(tmp_path, torch_version):
    """A bare virtual environment whose only package is a fake ``torch`` reporting ``torch_version``."""
    env_dir = tmp_path / 'env'
    venv.create(env_dir, with_pip=False)
    python = env_dir / 'bin' / 'python'
    site = subprocess.check_output(
        [str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], text=True)
    package = osp.join(site.strip(), 'torch')
    os.makedirs(package)
    with open(osp.join(package, '__init__.py'), 'w') as f:
        f.write(f'__version__ = {torch_version!r}\n')
    return str(python)


@pytest.mark.parametrize('torch_version', ['1.7.1', '2.14.0', '3.0.0+cu130'])
def test_torch_outside_mmcv_range_stops_with_message(tmp_path, torch_version):
    result = run_setup({'SSOD_PYTHON': venv_with_fake_torch(tmp_path, torch_version)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert f'torch {torch_version} is outside the range' in result.stderr
    assert '>= 1.8, < 2.14' in result.stderr
    assert 'SSOD_SKIP_TORCH_CHECK=1' in result.stderr
    assert 'building mmcv' not in result.stdout  # stopped before any install


def test_second_run_on_ready_environment_is_a_fast_no_op():
    start = time.time()
    result = run_setup({'SSOD_PYTHON': sys.executable})
    seconds = time.time() - start
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'nothing to do' in result.stdout
    assert 'installing' not in result.stdout
    assert seconds < 60  # generous bound on a no-op; the real figure (~5 s) is in the README
