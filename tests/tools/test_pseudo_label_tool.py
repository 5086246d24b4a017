"""tools/pseudo_label.py as users run it: a run killed with SIGKILL and started again, and two ranks
over gloo, each give the same bytes as one uninterrupted in-process run; a bad image on one rank stops
both; errors are one line.

Each test starts real Python processes (about 5 s of imports each on a 2-core machine); the 2-rank
tests run both ranks at once. Together about 30-40 s.
"""
import json
import os
import os.path as osp
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from ssod.apis import pseudo_label_store as store
from ssod.apis.pseudo_label import write_pseudo_labels
from tests.apis.pseudo_label_checkpoints import plain_checkpoint
from tests.scripts import REPO_ROOT, load_script

pytestmark = pytest.mark.usefixtures('single_torch_thread')  # the subprocesses: OMP_NUM_THREADS=1
TOOL = osp.join(REPO_ROOT, 'tools', 'pseudo_label.py')
DIST_VARIABLES = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')


@pytest.fixture(scope='module')
def plain(tmp_path_factory):
    return plain_checkpoint(tmp_path_factory.mktemp('plain'))


@pytest.fixture(scope='module')
def uninterrupted(plain, synthetic_data, tmp_path_factory):
    """The bytes of one in-process run over the 32 images of the synthetic folder."""
    out = str(tmp_path_factory.mktemp('reference') / 'pseudo.json')
    write_pseudo_labels(*plain, images_folder(synthetic_data), out, progress=False)
    with open(out, 'rb') as f:
        return f.read()


def images_folder(root):
    return osp.join(root, 'images')


def tool_command(plain, images, out, *extra):
    return [sys.executable, TOOL, *plain, '--images', images, '--out', out, '--no-progress', *extra]


def tool_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARIABLES}
    env['PYTHONPATH'] = os.pathsep.join([REPO_ROOT] + ([env['PYTHONPATH']] if 'PYTHONPATH' in env else []))
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', **{k: str(v) for k, v in extra.items()})
    return env


def finished_lines(path):
    try:
        with open(path, 'rb') as f:
            return f.read().count(b'\n')
    except FileNotFoundError:
        return 0


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def test_killed_run_continues_to_the_same_bytes(plain, synthetic_data, uninterrupted, tmp_path):
    out = str(tmp_path / 'pseudo.json')
    command = tool_command(plain, images_folder(synthetic_data), out)
    process = subprocess.Popen(command, env=tool_env(), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    part = store.rank_file(out, 0)
    deadline = time.monotonic() + 300
    while finished_lines(part) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    output = process.communicate()[0].decode()
    assert process.returncode == -signal.SIGKILL, output  # killed, not finished or failed
    assert not osp.exists(out)
    done = finished_lines(part)
    assert 3 <= done < 32

    result = subprocess.run(command, env=tool_env(), cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    labeled, skipped = map(int, re.search(r'this rank labeled (\d+) images; (\d+) were finished before',
                                          result.stdout).groups())
    assert skipped == done  # a line cut by the kill is not counted (and was labeled again)
    assert labeled == 32 - done
    assert f'{out}: 32 images' in result.stdout
    assert read(out) == uninterrupted
    assert not osp.exists(out + '.parts')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_ranks_write_the_same_bytes_as_one(plain, synthetic_data, uninterrupted, tmp_path):
    out = str(tmp_path / 'pseudo.json')
    command = tool_command(plain, images_folder(synthetic_data), out, '--launcher', 'pytorch')
    port = free_port()
    ranks = [subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=tool_env(RANK=rank, LOCAL_RANK=rank, WORLD_SIZE=2,
                                                      MASTER_ADDR='127.0.0.1', MASTER_PORT=port))
             for rank in range(2)]
    outputs = [rank.communicate(timeout=300)[0] for rank in ranks]
    assert [rank.returncode for rank in ranks] == [0, 0], outputs
    for output in outputs:
        assert 'runs on CPU with the gloo backend' in output
        assert f'{out}: 32 images' in output
        assert 'this rank labeled 16 images; 0 were finished before' in output  # images 0::2 / 1::2
    assert read(out) == uninterrupted
    assert not osp.exists(out + '.parts')


def test_a_bad_image_on_one_rank_stops_both(plain, synthetic_data, tmp_path):
    """Image id 2 (rank 1's share) is missing: both ranks exit with its error, none waits forever."""
    images = [dict(id=i, file_name=name) for i, name in
              enumerate(['000000.jpg', 'gone.jpg', '000001.jpg', '000002.jpg'], start=1)]
    images_json = tmp_path / 'images.json'
    images_json.write_text(json.dumps(dict(images=images)))
    command = tool_command(plain, str(images_json), str(tmp_path / 'pseudo.json'), '--launcher',
                           'pytorch', '--img-dir', images_folder(synthetic_data))
    port = free_port()
    ranks = [subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=tool_env(RANK=rank, LOCAL_RANK=rank, WORLD_SIZE=2,
                                                      MASTER_ADDR='127.0.0.1', MASTER_PORT=port))
             for rank in range(2)]
    outputs = [rank.communicate(timeout=300)[0] for rank in ranks]
    assert [rank.returncode for rank in ranks] == [1, 1], outputs
    gone = osp.join(images_folder(synthetic_data), 'gone.jpg')
    for output in outputs:
        assert f'error: image {gone} (image id 2) does not exist' in output


def test_errors_are_one_line(plain, tmp_path):
    tool = load_script('tools/pseudo_label.py')
    missing = str(tmp_path / 'missing')
    with pytest.raises(SystemExit) as info:
        tool.main([*plain, '--images', missing, '--out', str(tmp_path / 'out.json')])
    assert info.value.code == (f'error: --images {missing} does not exist: give a COCO json (with '
                               f'`images`) or a folder of images')
    with pytest.raises(SystemExit) as info:
        tool.main([*plain, '--images', str(tmp_path), '--out', str(tmp_path / 'out.json'),
                   '--model', 'student'])
    assert info.value.code.startswith('error: --model student needs a teacher-student config')
    with pytest.raises(SystemExit) as info:  # argparse: usage and status 2
        tool.main([*plain, '--images', str(tmp_path), '--out', 'x.json', '--launcher', 'mpi'])
    assert info.value.code == 2
