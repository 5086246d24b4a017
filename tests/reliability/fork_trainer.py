"""A training-process factory for the fault-injection tests: imports torch/mmdet/ssod once, then forks
one real process per request, each running ``tools/train.py`` to the end or until it is SIGKILLed.

Run as ``python -m tests.reliability.fork_trainer`` from the repository root by :class:`ForkTrainer`
(``tests/reliability/conftest.py``); reads one JSON request per line on stdin and answers one JSON line
on stdout::

    {"argv": [...], "log": "<file for the child's stdout/stderr>", "kill_at": 17 | null}
    -> {"pid": ..., "exit_code": 0 | 1 | ..., "signal": 9 | null}

``kill_at=k``: the child sends itself SIGKILL right before its k-th file-system event *inside the
checkpoint hook's work* (after_train_iter of the hook registered as ``CheckpointHook``). Events are
counted at: every 1 MiB chunk written by mmengine's local file writer (``LocalBackend.put``, which
writes the checkpoint file; the chunking only makes a kill mid-write possible), ``os.fsync``,
``os.replace``, ``os.rename``, ``os.remove`` / ``os.unlink``. The kill is a real SIGKILL of a real
process: nothing of the process runs after it (no ``finally``, no flush). A child that finishes
writes the number of events it saw to ``<log>.events``.

Forking keeps each child's start-up at the cost of building the runner (the imports are done once;
see below for two cosmetic start-up costs left out); the factory runs no torch computation itself.
"""
import json
import os
import os.path as osp
import signal
import sys
import traceback

import torch

torch.set_num_threads(1)

import mmengine.fileio.backends.local_backend as local_backend  # noqa: E402
import mmengine.runner.runner as runner_module  # noqa: E402
from mmengine.config import config as mmengine_config_module  # noqa: E402

import ssod  # noqa: E402,F401
from ssod.registry import HOOKS  # noqa: E402
from tests.scripts import load_script  # noqa: E402

CHUNK = 1 << 20


TRAIN_TOOL = load_script('tools/train.py')

# Start-up costs that have nothing to do with what these tests check, paid once or not at all:
# * every Runner logs the system environment, which mmengine collects with compiler sub-processes
#   (about 2 s); it is the same for every child, so it is collected once here;
# * the config text that a Runner logs, dumps and stores in checkpoints is run through yapf (about
#   3 s of CPU per process for these configs; ssod caches it per process, but every child is a new
#   process): the children use the unformatted text, which is the same Python, only laid out
#   differently.
_ENVIRONMENT = runner_module.collect_env()
runner_module.collect_env = lambda: dict(_ENVIRONMENT)
mmengine_config_module.FormatCode = lambda source, style_config=None, **kwargs: (source, False)


class FaultInjector:
    """Counts file-system events inside checkpoint saves and SIGKILLs the process at event ``kill_at``."""

    def __init__(self, kill_at):
        self.kill_at = kill_at
        self.events = 0
        self.in_save = False

    def event(self):
        if not self.in_save:
            return
        self.events += 1
        if self.kill_at is not None and self.events >= self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def install(self):
        injector = self

        def wrap(function):
            def wrapped(*args, **kwargs):
                injector.event()
                return function(*args, **kwargs)
            return wrapped

        for name in ('fsync', 'replace', 'rename', 'remove', 'unlink'):
            setattr(os, name, wrap(getattr(os, name)))

        def put(self, obj, filepath):
            os.makedirs(osp.dirname(str(filepath)) or '.', exist_ok=True)
            with open(filepath, 'wb') as f:
                for start in range(0, len(obj), CHUNK):
                    injector.event()
                    f.write(obj[start:start + CHUNK])
                    f.flush()

        local_backend.LocalBackend.put = put

        hook_cls = HOOKS.get('CheckpointHook')
        after_train_iter = hook_cls.after_train_iter

        def counted_after_train_iter(self, *args, **kwargs):
            injector.in_save = True
            try:
                return after_train_iter(self, *args, **kwargs)
            finally:
                injector.in_save = False

        hook_cls.after_train_iter = counted_after_train_iter


def run_child(request):
    log = os.open(request['log'], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    injector = FaultInjector(request.get('kill_at'))
    injector.install()
    code = 0
    try:
        TRAIN_TOOL.main(request['argv'])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
        if not isinstance(stop.code, int) and stop.code is not None:
            print(stop.code, file=sys.stderr)
    except BaseException:  # noqa: B902  (report anything, then exit non-zero)
        traceback.print_exc()
        code = 1
    with open(request['log'] + '.events', 'w') as f:
        f.write(str(injector.events))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def main():
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(request)
        _, status = os.waitpid(pid, 0)
        answer = dict(pid=pid,
                      exit_code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                      signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None)
        print(json.dumps(answer), flush=True)


if __name__ == '__main__':
    main()
