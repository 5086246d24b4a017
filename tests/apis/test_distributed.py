"""ssod.apis.distributed, which makes ``--launcher pytorch|slurm`` work on a machine without CUDA: Slurm
variables become torch.distributed ones, clear errors outside a launcher, gloo and a DDP wrapper without
device ids on CPU. Slurm's ``scontrol`` is the fake of tests/tools/fake_slurm."""
import os
import os.path as osp
import socket

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config

from ssod.apis.distributed import (LauncherError, check_torchrun_environment, export_slurm_environment,
                                   setup_launcher, use_cpu_distributed)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FAKE_SLURM = osp.join(REPO_ROOT, 'tests', 'tools', 'fake_slurm')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def slurm_task(rank=1, ntasks=2, **extra):
    env = {'SLURM_PROCID': str(rank), 'SLURM_NTASKS': str(ntasks), 'SLURM_LOCALID': str(rank),
           'SLURM_NODELIST': 'localhost', 'PATH': FAKE_SLURM + os.pathsep + os.environ['PATH']}
    env.update(extra)
    return env


def minimal_cfg(**kwargs):
    return Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl')), **kwargs))


def test_slurm_variables_become_torch_distributed_ones(monkeypatch):
    environ = slurm_task(rank=3, ntasks=4, SLURM_LOCALID='1')
    monkeypatch.setenv('PATH', environ['PATH'])  # the fake scontrol answers the master host
    exported = export_slurm_environment(environ)
    assert exported == {'RANK': '3', 'WORLD_SIZE': '4', 'LOCAL_RANK': '1',
                        'MASTER_ADDR': 'localhost', 'MASTER_PORT': '29500'}
    # An existing MASTER_ADDR / MASTER_PORT is kept; dist_cfg.port wins over MASTER_PORT.
    environ = slurm_task(MASTER_ADDR='10.1.2.3', MASTER_PORT='1234')
    assert export_slurm_environment(environ)['MASTER_PORT'] == '1234'
    assert environ['MASTER_ADDR'] == '10.1.2.3'
    assert export_slurm_environment(environ, port=4321)['MASTER_PORT'] == '4321'
    # No SLURM_LOCALID: rank modulo the GPUs (0 GPUs count as 1 device).
    environ = slurm_task(rank=1, MASTER_ADDR='h')
    del environ['SLURM_LOCALID']
    expected = 1 % max(torch.cuda.device_count(), 1)
    assert export_slurm_environment(environ)['LOCAL_RANK'] == str(expected)


def test_slurm_launch_outside_slurm_says_how_to_start_it():
    with pytest.raises(LauncherError, match='SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST.*srun'):
        export_slurm_environment({})
    with pytest.raises(LauncherError, match="SLURM_NTASKS='two' is not an integer"):
        export_slurm_environment(slurm_task(SLURM_NTASKS='two'))
    with pytest.raises(LauncherError, match='SLURM_PROCID=2 is outside 0 .. SLURM_NTASKS-1 = 1'):
        export_slurm_environment(slurm_task(rank=2, ntasks=2))


def test_slurm_launch_without_scontrol_names_it(monkeypatch, tmp_path):
    monkeypatch.setenv('PATH', str(tmp_path))  # neither the real nor the fake scontrol
    with pytest.raises(LauncherError, match='needs `scontrol`.*or set MASTER_ADDR'):
        export_slurm_environment(slurm_task())
    failing = tmp_path / 'scontrol'
    failing.write_text('#!/bin/sh\necho "invalid node list" >&2\nexit 1\n')
    failing.chmod(0o755)
    with pytest.raises(LauncherError, match='exit status 1.*invalid node list.*MASTER_ADDR'):
        export_slurm_environment(slurm_task())


def test_pytorch_launch_outside_torchrun_says_how_to_start_it():
    with pytest.raises(LauncherError, match='RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT.*'
                       'dist_train.sh'):
        check_torchrun_environment({})
    with pytest.raises(LauncherError, match='torchrun variables MASTER_PORT,'):
        check_torchrun_environment(dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='h'))


def test_cpu_config_uses_gloo_and_a_ddp_wrapper_without_device_ids():
    cfg = minimal_cfg(find_unused_parameters=True)
    use_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                                         find_unused_parameters=True, device_ids=None)
    # A config's own DDP wrapper keeps its settings and only loses the device ids.
    cfg = minimal_cfg(model_wrapper_cfg=dict(type='MMDistributedDataParallel', detect_anomalous_params=True))
    use_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', detect_anomalous_params=True,
                                         device_ids=None)
    # A backend that works on CPU (gloo, mpi) is kept; a non-DDP wrapper is left alone.
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='mpi')),
                      model_wrapper_cfg=dict(type='MMFullyShardedDataParallel')))
    use_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'mpi'
    assert cfg.model_wrapper_cfg == dict(type='MMFullyShardedDataParallel')
    # No env_cfg at all (mmengine's default backend is NCCL): one is added.
    cfg = Config(dict(model=dict(type='Anything')))
    use_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo' and cfg.model_wrapper_cfg.device_ids is None


def test_gpu_machine_config_is_left_to_mmengine(monkeypatch):
    environ = slurm_task(rank=0, ntasks=2)
    monkeypatch.setenv('PATH', environ['PATH'])
    cfg = minimal_cfg()
    setup_launcher(cfg, 'slurm', environ=environ, cuda_available=True)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg
    assert not torch_dist.is_initialized()
    assert (environ['RANK'], environ['WORLD_SIZE'], environ['MASTER_ADDR']) == ('0', '2', 'localhost')
    # launcher none: nothing happens at all, even without any variable.
    cfg = minimal_cfg()
    setup_launcher(cfg, 'none', environ={}, cuda_available=False)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and not torch_dist.is_initialized()


def test_cpu_slurm_task_initialises_a_gloo_process_group(monkeypatch, capsys):
    environ = slurm_task(rank=0, ntasks=1, MASTER_PORT=str(free_port()))
    monkeypatch.setenv('PATH', environ['PATH'])
    cfg = minimal_cfg()
    cfg.env_cfg.dist_cfg.timeout = 60
    assert not torch_dist.is_initialized()
    try:
        setup_launcher(cfg, 'slurm', environ=environ, cuda_available=False)
        assert torch_dist.is_initialized()
        assert torch_dist.get_backend() == 'gloo'
        assert (torch_dist.get_rank(), torch_dist.get_world_size()) == (0, 1)
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
    assert 'rank 0 of 1 (slurm) runs on CPU with the gloo backend, master localhost:' in \
        capsys.readouterr().err
