"""Process-group set-up for ``--launcher pytorch|slurm``, including machines without a GPU.

tools/train.py and tools/test.py call :func:`setup_launcher` after reading the config and before
building the mmengine Runner. What it does:

* ``slurm``: turns the variables of the Slurm step (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
  SLURM_NODELIST) into the ones torch.distributed reads (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
  MASTER_PORT). MASTER_ADDR is the first host of ``scontrol show hostnames $SLURM_NODELIST`` and
  MASTER_PORT 29500, unless they are already set or ``env_cfg.dist_cfg.port`` is given — the same
  values mmengine's own Slurm set-up chooses, so nothing changes on GPU clusters; a missing variable
  or a missing ``scontrol`` now fails with a message instead of a hostname like
  ``/bin/sh: scontrol: not found``.
* ``pytorch``: checks that torchrun's variables are there (a plain ``python tools/train.py
  --launcher pytorch`` would otherwise fail with a bare ``KeyError: 'RANK'``).
* Without CUDA (``torch.cuda.is_available()`` is False): mmengine 0.10.7's ``init_dist`` calls
  ``torch.cuda.set_device(local_rank)`` for both launchers (an AttributeError on a CPU build of torch)
  and the configs ask for NCCL, which needs GPUs. So the backend becomes gloo, the model wrapper gets
  ``device_ids=None`` (DistributedDataParallel refuses device ids for a CPU module), and the process
  group is initialised here; the Runner then finds it initialised and skips ``init_dist``.
  With CUDA the config is left alone and mmengine initialises the process group as before.

Other launchers (``none``, ``mpi``) pass through untouched.
"""
import datetime
import os
import subprocess
import sys
from typing import MutableMapping, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

DEFAULT_MASTER_PORT = 29500  # torch.distributed's and mmengine's default
SLURM_REQUIRED = ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST')
TORCHRUN_REQUIRED = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')
CPU_BACKEND = 'gloo'
GPU_ONLY_BACKENDS = ('nccl', )


class LauncherError(RuntimeError):
    """The process was started in a way its ``--launcher`` cannot work with; the message says how to
    start it instead."""


def _int_variable(environ: MutableMapping[str, str], name: str) -> int:
    value = environ[name]
    try:
        return int(value)
    except ValueError:
        raise LauncherError(f'{name}={value!r} is not an integer') from None


def slurm_master_addr(node_list: str) -> str:
    """The first host of a Slurm node list (e.g. ``node[3-5]``), via ``scontrol show hostnames``."""
    command = ['scontrol', 'show', 'hostnames', node_list]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise LauncherError(
            '--launcher slurm needs `scontrol` to find the master host of SLURM_NODELIST='
            f'{node_list!r}, but it is not on PATH. Start the job through Slurm '
            '(tools/slurm_train.sh / tools/slurm_test.sh) or set MASTER_ADDR yourself.') from None
    hosts = result.stdout.split()
    if result.returncode != 0 or not hosts:
        raise LauncherError(
            f'`{" ".join(command)}` failed (exit status {result.returncode}): '
            f'{result.stderr.strip() or "no host printed"}. Set MASTER_ADDR to the first node of the job.')
    return hosts[0]


def export_slurm_environment(environ: Optional[MutableMapping[str, str]] = None,
                             port: Optional[int] = None) -> dict:
    """Set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT from a Slurm step's variables.

    ``port`` (``env_cfg.dist_cfg.port``) wins over MASTER_PORT, which wins over 29500; an existing
    MASTER_ADDR is kept. Returns the five values that were set.
    """
    environ = os.environ if environ is None else environ
    missing = [name for name in SLURM_REQUIRED if name not in environ]
    if missing:
        raise LauncherError(
            f'--launcher slurm needs the Slurm task variables {", ".join(missing)}, which are not set: '
            'start it with srun (e.g. `bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR`), '
            'or use --launcher pytorch with torchrun (tools/dist_train.sh).')
    proc_id = _int_variable(environ, 'SLURM_PROCID')
    ntasks = _int_variable(environ, 'SLURM_NTASKS')
    if not 0 <= proc_id < ntasks:
        raise LauncherError(f'SLURM_PROCID={proc_id} is outside 0 .. SLURM_NTASKS-1 = {ntasks - 1}')
    if 'SLURM_LOCALID' in environ:
        local_rank = _int_variable(environ, 'SLURM_LOCALID')
    else:  # srun always sets it; this is mmengine's fallback, safe without GPUs
        local_rank = proc_id % max(torch.cuda.device_count(), 1)
    if port is not None:
        environ['MASTER_PORT'] = str(port)
    environ.setdefault('MASTER_PORT', str(DEFAULT_MASTER_PORT))
    if 'MASTER_ADDR' not in environ:
        environ['MASTER_ADDR'] = slurm_master_addr(environ['SLURM_NODELIST'])
    environ['WORLD_SIZE'] = str(ntasks)
    environ['RANK'] = str(proc_id)
    environ['LOCAL_RANK'] = str(local_rank)
    return {name: environ[name] for name in TORCHRUN_REQUIRED}


def check_torchrun_environment(environ: Optional[MutableMapping[str, str]] = None) -> None:
    """Fail clearly when ``--launcher pytorch`` was not started by torchrun."""
    environ = os.environ if environ is None else environ
    missing = [name for name in TORCHRUN_REQUIRED if name not in environ]
    if missing:
        raise LauncherError(
            f'--launcher pytorch needs the torchrun variables {", ".join(missing)}, which are not set: '
            'start it with `bash tools/dist_train.sh CONFIG GPUS` (or torchrun), or drop --launcher '
            'for a single process.')


def use_cpu_distributed(cfg: Config) -> None:
    """Config changes for distributed runs without CUDA: gloo instead of NCCL, and a
    DistributedDataParallel wrapper without device ids. Edits ``cfg`` in place."""
    if cfg.get('env_cfg') is None:
        cfg.env_cfg = dict()
    if cfg.env_cfg.get('dist_cfg') is None:
        cfg.env_cfg.dist_cfg = dict()
    dist_cfg = cfg.env_cfg.dist_cfg
    if dist_cfg.get('backend', 'nccl') in GPU_ONLY_BACKENDS:
        dist_cfg['backend'] = CPU_BACKEND
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        # What the Runner builds when there is no model_wrapper_cfg, minus the device ids.
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False), device_ids=None)
    elif _wraps_with_ddp(wrapper.get('type', 'MMDistributedDataParallel')):
        wrapper.setdefault('device_ids', None)


def _wraps_with_ddp(wrapper_type) -> bool:
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel
    cls = MODEL_WRAPPERS.get(wrapper_type) if isinstance(wrapper_type, str) else wrapper_type
    return isinstance(cls, type) and issubclass(cls, DistributedDataParallel)


def init_cpu_process_group(cfg: Config, environ: Optional[MutableMapping[str, str]] = None) -> None:
    """Initialise the default process group from RANK / WORLD_SIZE / MASTER_* without touching CUDA,
    with ``env_cfg.dist_cfg``'s backend and timeout (seconds, as mmengine reads it)."""
    environ = os.environ if environ is None else environ
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    backend = dist_cfg.pop('backend', CPU_BACKEND)
    dist_cfg.pop('port', None)  # slurm only, already in MASTER_PORT
    timeout = dist_cfg.pop('timeout', None)
    if timeout is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(
        backend=backend, init_method=f'tcp://{environ["MASTER_ADDR"]}:{environ["MASTER_PORT"]}',
        rank=int(environ['RANK']), world_size=int(environ['WORLD_SIZE']), **dist_cfg)


def setup_launcher(cfg: Config, launcher: str, environ: Optional[MutableMapping[str, str]] = None,
                   cuda_available: Optional[bool] = None) -> None:
    """Prepare ``launcher`` before the Runner is built from ``cfg`` (see the module docstring).

    ``cuda_available`` defaults to ``torch.cuda.is_available()``; tests pass it explicitly.
    """
    environ = os.environ if environ is None else environ
    if launcher == 'slurm':
        port = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('port')
        export_slurm_environment(environ, port=port)
    elif launcher == 'pytorch':
        check_torchrun_environment(environ)
    else:
        return
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if cuda_available:
        return
    use_cpu_distributed(cfg)
    if not torch_dist.is_initialized():
        init_cpu_process_group(cfg, environ)
    backend = cfg.env_cfg['dist_cfg']['backend']
    print(f'ssod: no CUDA device, rank {environ["RANK"]} of {environ["WORLD_SIZE"]} '
          f'({launcher}) runs on CPU with the {backend} backend, master '
          f'{environ["MASTER_ADDR"]}:{environ["MASTER_PORT"]}', file=sys.stderr, flush=True)
