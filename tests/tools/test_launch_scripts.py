"""Launch scripts (tools/dist_*.sh, tools/slurm_*.sh) and the fake Slurm commands that test them (the
launcher set-up itself, ssod.apis.distributed, is tested in tests/apis/test_distributed.py).

The Slurm path is tested without a cluster: tests/tools/fake_slurm (first on PATH) holds an ``srun``
that starts the tasks locally with the SLURM_* variables set and logs the options it received, and an
``scontrol`` whose ``show hostnames`` prints localhost. Two real 2-rank gloo trainings (srun and
torchrun) run 2 iterations of the synthetic SoftTeacher config on 64 px images, without validation.
"""
import glob
import json
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys
import time

import pytest
import torch
import torch.distributed as torch_dist

from tests.scripts import load_script

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO_ROOT, 'tools')
FAKE_SLURM = osp.join(REPO_ROOT, 'tests', 'tools', 'fake_slurm')
SYNTHETIC_CONFIG = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                            'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')
TRAIN_ITERS = 2
# A stand-in for the Python interpreter: records its arguments and the rank variables of each task.
RECORDER = """#!/bin/sh
{ printf '%s\\n' "${SLURM_PROCID:-none}" "$PYTHONPATH"; for a in "$@"; do printf '%s\\n' "$a"; done; } \\
    > "$RECORD_DIR/task_${SLURM_PROCID:-0}.txt"
"""


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch_env(tmp_path, **extra):
    """Environment for a launch script: fake Slurm first on PATH, this interpreter as `python`."""
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(('SLURM_', 'MASTER_', 'GPUS', 'CPUS_PER_TASK', 'SRUN_ARGS')) or name in (
                'RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'NNODES', 'NODE_RANK', 'PORT'):
            del env[name]
    env['PATH'] = os.pathsep.join([FAKE_SLURM, osp.dirname(sys.executable), env.get('PATH', '')])
    env['PYTHON'] = sys.executable
    env['FAKE_SRUN_LOG'] = str(tmp_path / 'srun_calls.jsonl')
    env['OMP_NUM_THREADS'] = '1'  # 2 ranks on 2 cores
    env.update({k: str(v) for k, v in extra.items()})
    return env


def srun_calls(env):
    with open(env['FAKE_SRUN_LOG']) as f:
        return [json.loads(line) for line in f]


def recorder(tmp_path):
    """A fake interpreter that writes `task_<SLURM_PROCID>.txt`: rank, PYTHONPATH, arguments."""
    path = tmp_path / 'fake_python'
    path.write_text(RECORDER)
    path.chmod(0o755)
    (tmp_path / 'records').mkdir()
    return str(path), str(tmp_path / 'records')


def recorded_tasks(record_dir):
    tasks = {}
    for path in sorted(glob.glob(osp.join(record_dir, 'task_*.txt'))):
        with open(path) as f:
            lines = f.read().splitlines()
        assert lines[1].split(os.pathsep)[0] == osp.join(TOOLS, '..')  # ssod importable
        tasks[lines[0]] = lines[2:]
    return tasks


def run(command, env, timeout=120):
    return subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


# ------------------------------------------------------------------------------------------------
# The fake srun / scontrol


def test_fake_srun_starts_every_task_with_the_slurm_variables(tmp_path):
    env = launch_env(tmp_path, FAKE_SLURM_JOB_ID='4242')
    script = ('import json, os, sys; json.dump({k: v for k, v in os.environ.items() '
              "if k.startswith('SLURM_')}, open(sys.argv[1] + '/' + os.environ['SLURM_PROCID'], 'w'))")
    result = run(['srun', '-p', 'debug', '--job-name=probe', '--ntasks=3', '--ntasks-per-node=2',
                  '--cpus-per-task', '4', '--gres=gpu:2', '--kill-on-bad-exit=1', '--quotatype=auto',
                  '--exclusive', sys.executable, '-c', script, str(tmp_path)], env)
    assert result.returncode == 0, result.stderr
    tasks = [json.load(open(tmp_path / str(rank))) for rank in range(3)]
    assert [t['SLURM_PROCID'] for t in tasks] == ['0', '1', '2']
    assert [t['SLURM_LOCALID'] for t in tasks] == ['0', '1', '0']  # 2 tasks per node
    assert [t['SLURM_NODEID'] for t in tasks] == ['0', '0', '1']
    for t in tasks:
        assert t['SLURM_NTASKS'] == '3' and t['SLURM_NNODES'] == '2'
        assert t['SLURM_NODELIST'] == 'localhost' and t['SLURM_JOB_ID'] == '4242'
        assert t['SLURM_JOB_NAME'] == 'probe' and t['SLURM_JOB_PARTITION'] == 'debug'
        assert t['SLURM_CPUS_PER_TASK'] == '4'
    (call, ) = srun_calls(env)
    assert call['options'] == {'partition': 'debug', 'job-name': 'probe', 'ntasks': '3',
                               'ntasks-per-node': '2', 'cpus-per-task': '4', 'gres': 'gpu:2',
                               'kill-on-bad-exit': '1'}
    assert call['extra'] == ['--quotatype=auto', '--exclusive']
    assert call['command'][:2] == [sys.executable, '-c']


def test_fake_srun_returns_the_worst_exit_status(tmp_path):
    env = launch_env(tmp_path)
    exit_with_rank = 'import os, sys; sys.exit(int(os.environ["SLURM_PROCID"]))'
    result = run(['srun', '--ntasks=3', sys.executable, '-c', exit_with_rank], env)
    assert result.returncode == 2


def test_fake_srun_kill_on_bad_exit_stops_the_other_tasks(tmp_path):
    env = launch_env(tmp_path)
    rank1_fails = ('import os, sys, time\n'
                   'if os.environ["SLURM_PROCID"] == "1": sys.exit(3)\n'
                   'time.sleep(60)')
    start = time.monotonic()
    result = run(['srun', '--ntasks=2', '--kill-on-bad-exit=1', sys.executable, '-c', rank1_fails],
                 env)
    assert time.monotonic() - start < 30  # not the 60 s the healthy task would sleep
    assert result.returncode == 128 + 15  # the worst: the sleeping task, terminated (SIGTERM)
    assert 'task 1 exited with 3' in result.stderr


def test_fake_srun_rejects_a_call_without_command(tmp_path):
    result = run(['srun', '--ntasks=2'], launch_env(tmp_path))
    assert result.returncode == 2 and 'no command' in result.stderr
    result = run(['srun', '--ntasks=zero', 'true'], launch_env(tmp_path))
    assert result.returncode == 2 and '--ntasks must be an integer' in result.stderr


def test_fake_scontrol_prints_localhost_per_node(tmp_path):
    env = launch_env(tmp_path)
    result = run(['scontrol', 'show', 'hostnames', 'localhost'], env)
    assert result.returncode == 0 and result.stdout.split() == ['localhost']
    assert run(['scontrol', 'show', 'hostnames', 'a,b'], env).stdout.split() == ['localhost'] * 2
    assert run(['scontrol', 'show', 'jobs'], env).returncode == 1


# ------------------------------------------------------------------------------------------------
# What the scripts pass on (a recording stand-in for python: no training)


@pytest.mark.parametrize('script, tool, fourth', [('slurm_train.sh', 'train.py', 'work_dirs/x'),
                                                 ('slurm_test.sh', 'test.py', 'model.pth')])
def test_slurm_scripts_pass_options_to_srun_and_arguments_to_the_tool(tmp_path, script, tool, fourth):
    fake_python, record_dir = recorder(tmp_path)
    env = launch_env(tmp_path, PYTHON=fake_python, RECORD_DIR=record_dir, GPUS=4, GPUS_PER_NODE=2,
                     CPUS_PER_TASK=3, SRUN_ARGS='--quotatype=auto  --time=1:00:00')
    result = run(['bash', osp.join(TOOLS, script), 'gpu_part', 'my job', 'cfg.py', fourth,
                  '--cfg-options', 'fold=3', 'a=with space'], env)
    assert result.returncode == 0, result.stderr
    (call, ) = srun_calls(env)
    assert call['options'] == {'partition': 'gpu_part', 'job-name': 'my job', 'gres': 'gpu:2',
                               'ntasks': '4', 'ntasks-per-node': '2', 'cpus-per-task': '3',
                               'kill-on-bad-exit': '1'}
    assert call['extra'] == ['--quotatype=auto', '--time=1:00:00']
    tasks = recorded_tasks(record_dir)
    assert sorted(tasks) == ['0', '1', '2', '3']
    tool_args = [osp.join(TOOLS, tool), 'cfg.py']
    tool_args += ['--work-dir', fourth] if tool == 'train.py' else [fourth]
    tool_args += ['--launcher', 'slurm', '--cfg-options', 'fold=3', 'a=with space']
    for args in tasks.values():
        assert args == ['-u'] + tool_args


def test_slurm_script_defaults_are_eight_gpus_per_node_and_five_cpus(tmp_path):
    fake_python, record_dir = recorder(tmp_path)
    env = launch_env(tmp_path, PYTHON=fake_python, RECORD_DIR=record_dir)
    result = run(['bash', osp.join(TOOLS, 'slurm_train.sh'), 'p', 'j', 'cfg.py', 'wd'], env)
    assert result.returncode == 0, result.stderr
    (call, ) = srun_calls(env)
    assert call['options'] == {'partition': 'p', 'job-name': 'j', 'gres': 'gpu:8', 'ntasks': '8',
                               'ntasks-per-node': '8', 'cpus-per-task': '5', 'kill-on-bad-exit': '1'}
    assert call['extra'] == []
    assert len(recorded_tasks(record_dir)) == 8


@pytest.mark.parametrize('script, tool, args', [
    ('dist_train.sh', 'train.py', ['cfg.py', '3']),
    ('dist_test.sh', 'test.py', ['cfg.py', 'model.pth', '3']),
])
def test_dist_scripts_call_torchrun_with_the_node_layout(tmp_path, script, tool, args):
    fake_python, record_dir = recorder(tmp_path)
    env = launch_env(tmp_path, PYTHON=fake_python, RECORD_DIR=record_dir, NNODES=2, NODE_RANK=1,
                     PORT=29612, MASTER_ADDR='10.0.0.7')
    result = run(['bash', osp.join(TOOLS, script), *args, '--cfg-options', 'a=with space'], env)
    assert result.returncode == 0, result.stderr
    (recorded, ) = recorded_tasks(record_dir).values()
    assert recorded == [
        '-m', 'torch.distributed.run', '--nnodes=2', '--node_rank=1', '--master_addr=10.0.0.7',
        '--master_port=29612', '--nproc_per_node=3', osp.join(TOOLS, tool), *args[:-1],
        '--launcher', 'pytorch', '--cfg-options', 'a=with space']


@pytest.mark.parametrize('script, args, launcher', [
    ('dist_test.sh', ['cfg.py', 'model.pth', '2'], 'pytorch'),
    ('slurm_test.sh', ['p', 'j', 'cfg.py', 'model.pth'], 'slurm'),
])
def test_test_scripts_run_the_pseudo_label_tool(tmp_path, script, args, launcher):
    fake_python, record_dir = recorder(tmp_path)
    env = launch_env(tmp_path, PYTHON=fake_python, RECORD_DIR=record_dir, TOOL='pseudo_label.py', GPUS=2,
                     GPUS_PER_NODE=2)
    result = run(['bash', osp.join(TOOLS, script), *args, '--images', 'u.json', '--out', 'p.json'], env)
    assert result.returncode == 0, result.stderr
    for recorded in recorded_tasks(record_dir).values():
        start = recorded.index(osp.join(TOOLS, 'pseudo_label.py'))
        assert recorded[start:] == [osp.join(TOOLS, 'pseudo_label.py'), 'cfg.py', 'model.pth', '--launcher',
                                    launcher, '--images', 'u.json', '--out', 'p.json']
    env['TOOL'] = 'nothing.py'
    result = run(['bash', osp.join(TOOLS, script), *args], env)
    assert result.returncode == 2 and 'TOOL=nothing.py is not a script in' in result.stderr


def test_dist_script_defaults(tmp_path):
    fake_python, record_dir = recorder(tmp_path)
    env = launch_env(tmp_path, PYTHON=fake_python, RECORD_DIR=record_dir)
    result = run(['bash', osp.join(TOOLS, 'dist_train.sh'), 'cfg.py', '2'], env)
    assert result.returncode == 0, result.stderr
    (recorded, ) = recorded_tasks(record_dir).values()
    assert recorded[2:7] == ['--nnodes=1', '--node_rank=0', '--master_addr=127.0.0.1',
                             '--master_port=29500', '--nproc_per_node=2']


@pytest.mark.parametrize('script, args, env_extra, message', [
    ('dist_train.sh', ['cfg.py'], {}, 'usage: bash'),
    ('dist_train.sh', ['cfg.py', 'two'], {}, "GPUS must be a positive integer, got 'two'"),
    ('dist_test.sh', ['cfg.py', '2'], {}, 'CONFIG CHECKPOINT GPUS'),
    ('dist_test.sh', ['cfg.py', 'm.pth', '0'], {}, "GPUS must be a positive integer, got '0'"),
    ('slurm_train.sh', ['p', 'j', 'cfg.py'], {}, 'PARTITION JOB_NAME CONFIG WORK_DIR'),
    ('slurm_train.sh', ['p', 'j', 'cfg.py', 'wd'], {'GPUS': 'x'}, "GPUS must be a positive integer"),
    ('slurm_test.sh', ['p', 'j', 'cfg.py'], {}, 'PARTITION JOB_NAME CONFIG CHECKPOINT'),
    ('slurm_test.sh', ['p', 'j', 'c', 'm'], {'CPUS_PER_TASK': '-1'}, 'CPUS_PER_TASK must be a positive'),
])
def test_scripts_reject_bad_arguments_with_usage(tmp_path, script, args, env_extra, message):
    env = launch_env(tmp_path, **env_extra)
    result = run(['bash', osp.join(TOOLS, script), *args], env)
    assert result.returncode == 2
    assert message in result.stderr
    assert not osp.exists(env['FAKE_SRUN_LOG'])  # nothing was launched


# ------------------------------------------------------------------------------------------------
# tools/train.py with a launcher that cannot work (ssod.apis.distributed is tested in
# tests/apis/test_distributed.py)


def test_train_tool_reports_a_bad_launch_before_building_anything(synthetic_data, monkeypatch):
    train = load_script('tools/train.py')
    for name in list(os.environ):
        if name.startswith('SLURM_') or name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            monkeypatch.delenv(name)
    with pytest.raises(SystemExit, match='error: --launcher slurm needs the Slurm task variables'):
        train.main([SYNTHETIC_CONFIG, '--launcher', 'slurm', *training_options(synthetic_data)])
    with pytest.raises(SystemExit, match='error: --launcher pytorch needs the torchrun variables'):
        train.main([SYNTHETIC_CONFIG, '--launcher', 'pytorch', *training_options(synthetic_data)])
    assert not torch_dist.is_initialized()


# ------------------------------------------------------------------------------------------------
# Real 2-rank trainings on CPU (gloo): srun (fake) and torchrun


def training_options(data_root):
    root = data_root.rstrip('/') + '/'
    return [
        '--cfg-options',
        f'train_dataloader.dataset.datasets.0.data_root={root}',
        f'train_dataloader.dataset.datasets.1.data_root={root}',
        f'train_cfg.max_iters={TRAIN_ITERS}', f'train_dataloader.sampler.max_iters={TRAIN_ITERS}',
        f'default_hooks.checkpoint.interval={TRAIN_ITERS}',
        # the config's burn-in (2 of 4 iterations) halved: mean-teacher step and unsup ramp-up
        'custom_hooks.0.teacher_momentum.steps=[1]', 'custom_hooks.1.schedule.begin=1',
        f'custom_hooks.1.schedule.end={TRAIN_ITERS}',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
        'test_cfg=None', 'test_dataloader=None', 'test_evaluator=None',
    ]


def assert_two_rank_training(work_dir, output, launcher):
    assert 'rank 0 of 2' in output and 'rank 1 of 2' in output, output[-3000:]
    (log, ) = glob.glob(osp.join(work_dir, '*', '*.log'))
    with open(log) as f:
        text = f.read()
    assert f'Distributed launcher: {launcher}' in text and 'Distributed training: True' in text
    assert 'GPU number: 2' in text  # mmengine's name for the world size
    for it in range(1, TRAIN_ITERS + 1):
        assert f'Iter(train) [{it}/{TRAIN_ITERS}]' in text
    checkpoint = torch.load(osp.join(work_dir, f'iter_{TRAIN_ITERS}.pth'), weights_only=True)
    assert checkpoint['meta']['iter'] == TRAIN_ITERS
    keys = checkpoint['state_dict'].keys()
    assert any(k.startswith('teacher.') for k in keys) and any(k.startswith('student.') for k in keys)
    assert not any(k.startswith('module.') for k in keys)  # saved unwrapped from DDP


@pytest.fixture(scope='module')
def slurm_training(synthetic_data, tmp_path_factory):
    """One 2-rank training through tools/slurm_train.sh and the fake srun (shared by the tests)."""
    tmp_path = tmp_path_factory.mktemp('slurm_train')
    work_dir = str(tmp_path / 'work')
    env = launch_env(tmp_path, GPUS=2, GPUS_PER_NODE=2, CPUS_PER_TASK=1, MASTER_PORT=free_port(),
                     SRUN_ARGS='--quotatype=auto')
    start = time.monotonic()
    result = run(['bash', osp.join(TOOLS, 'slurm_train.sh'), 'debug', 'job', SYNTHETIC_CONFIG,
                  work_dir, *training_options(synthetic_data)], env, timeout=300)
    seconds = time.monotonic() - start
    return dict(result=result, work_dir=work_dir, env=env, seconds=seconds)


def test_two_rank_cpu_training_through_slurm_train_sh(slurm_training):
    result, work_dir = slurm_training['result'], slurm_training['work_dir']
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert_two_rank_training(work_dir, output, 'slurm')
    (call, ) = srun_calls(slurm_training['env'])
    assert call['options'] == {'partition': 'debug', 'job-name': 'job', 'gres': 'gpu:2',
                               'ntasks': '2', 'ntasks-per-node': '2', 'cpus-per-task': '1',
                               'kill-on-bad-exit': '1'}
    assert call['extra'] == ['--quotatype=auto']
    assert call['command'][:4] == [sys.executable, '-u', osp.join(TOOLS, 'train.py'), SYNTHETIC_CONFIG]
    assert call['command'][4:8] == ['--work-dir', work_dir, '--launcher', 'slurm']
    assert 'train_cfg.max_iters=2' in call['command']


def test_two_rank_cpu_training_through_dist_train_sh(synthetic_data, tmp_path):
    work_dir = str(tmp_path / 'work')
    env = launch_env(tmp_path, PORT=free_port())
    result = run(['bash', osp.join(TOOLS, 'dist_train.sh'), SYNTHETIC_CONFIG, '2', '--work-dir',
                  work_dir, *training_options(synthetic_data)], env, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert_two_rank_training(work_dir, output, 'pytorch')


# ------------------------------------------------------------------------------------------------
# Real 2-rank evaluations of that checkpoint (tools/test.py, teacher and student)

needs_test_tool = pytest.mark.skipif(not osp.isfile(osp.join(TOOLS, 'test.py')),
                                     reason='tools/test.py is not in the tree')


def evaluation_options(data_root):
    root = data_root.rstrip('/') + '/'
    return ['--model', 'both', '--cfg-options', f'test_dataloader.dataset.data_root={root}',
            f'test_evaluator.ann_file={root}annotations/val.json', 'test_dataloader.batch_size=2']


def assert_two_rank_evaluation(work_dir, out_file, output, launcher, num_images):
    assert 'rank 0 of 2' in output and 'rank 1 of 2' in output, output[-3000:]
    (log, ) = glob.glob(osp.join(work_dir, '*', '*.log'))
    with open(log) as f:
        text = f.read()
    assert f'Distributed launcher: {launcher}' in text and 'GPU number: 2' in text
    for model in ('teacher', 'student'):
        assert f'{model}/coco/bbox_mAP: ' in text
        # the detections of every image, gathered from both ranks (4 images each)
        with open(out_file.replace('.pkl', f'.{model}.pkl'), 'rb') as f:
            results = pickle.load(f)
        assert len(results) == num_images
        assert len({r['img_id'] for r in results}) == num_images


def val_image_count(data_root):
    with open(osp.join(data_root, 'annotations', 'val.json')) as f:
        return len(json.load(f)['images'])


@needs_test_tool
def test_two_rank_cpu_evaluation_through_slurm_test_sh(slurm_training, synthetic_data, tmp_path):
    assert slurm_training['result'].returncode == 0, 'the training this test evaluates failed'
    checkpoint = osp.join(slurm_training['work_dir'], f'iter_{TRAIN_ITERS}.pth')
    work_dir, out_file = str(tmp_path / 'eval'), str(tmp_path / 'results.pkl')
    env = launch_env(tmp_path, GPUS=2, GPUS_PER_NODE=2, CPUS_PER_TASK=1, MASTER_PORT=free_port())
    result = run(['bash', osp.join(TOOLS, 'slurm_test.sh'), 'debug', 'eval', SYNTHETIC_CONFIG,
                  checkpoint, '--work-dir', work_dir, '--out', out_file,
                  *evaluation_options(synthetic_data)], env, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert_two_rank_evaluation(work_dir, out_file, output, 'slurm', val_image_count(synthetic_data))
    (call, ) = srun_calls(env)
    assert call['options']['ntasks'] == '2' and call['options']['job-name'] == 'eval'
    assert call['command'][2:7] == [osp.join(TOOLS, 'test.py'), SYNTHETIC_CONFIG, checkpoint,
                                    '--launcher', 'slurm']


@needs_test_tool
def test_two_rank_cpu_evaluation_through_dist_test_sh(slurm_training, synthetic_data, tmp_path):
    assert slurm_training['result'].returncode == 0, 'the training this test evaluates failed'
    checkpoint = osp.join(slurm_training['work_dir'], f'iter_{TRAIN_ITERS}.pth')
    work_dir, out_file = str(tmp_path / 'eval'), str(tmp_path / 'results.pkl')
    env = launch_env(tmp_path, PORT=free_port())
    result = run(['bash', osp.join(TOOLS, 'dist_test.sh'), SYNTHETIC_CONFIG, checkpoint, '2',
                  '--work-dir', work_dir, '--out', out_file, *evaluation_options(synthetic_data)],
                 env, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert_two_rank_evaluation(work_dir, out_file, output, 'pytorch', val_image_count(synthetic_data))
