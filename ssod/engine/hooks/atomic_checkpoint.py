"""``CheckpointHook``: mmengine's checkpoint hook (same arguments, same files) made crash-safe.

A drop-in for ``mmengine.hooks.CheckpointHook``; configs with ``default_scope = 'ssod'`` get it from
``default_hooks.checkpoint`` (``configs/_base_/default_runtime.py``), so every config has it.

What mmengine 0.10.7 does and what goes wrong when the job is killed during a save:
  1. it deletes the oldest kept checkpoint (``max_keep_ckpts``) *before* writing the new one,
  2. writes ``iter_N.pth`` in place (a kill leaves a truncated file of any size), then
  3. rewrites ``last_checkpoint`` in place.
With ``max_keep_ckpts=1`` a kill between 1 and the end of 2 leaves no complete checkpoint at all and
``last_checkpoint`` names a deleted or truncated file, so ``--resume`` fails for good.

This hook, for checkpoints on a local disk:
  * writes ``iter_N.pth.tmp`` in the output folder, ``fsync``-s it and renames it to ``iter_N.pth``;
  * then writes ``last_checkpoint`` the same way (temporary file, fsync, rename);
  * only then deletes the checkpoints that ``max_keep_ckpts`` no longer keeps;
  * refuses to write a checkpoint whose weights are not finite (raises
    :class:`~ssod.engine.non_finite_guard.NonFiniteWeightsError`, keeping the older checkpoints);
  * at the start of training deletes the ``*.pth.tmp`` files a killed save left behind, and after a
    resume the older checkpoints a killed rotation did not get to delete;
  * when resuming without a path (``resume=True, load_from=None``, i.e. ``tools/train.py --resume``),
    picks the newest *complete* checkpoint (:func:`~ssod.compat.checkpoint_files.find_resume_checkpoint`)
    instead of trusting ``last_checkpoint`` blindly, and logs every file it passed over and why.
Remote back ends (``backend_args``/``file_client_args``, ``s3://`` ...) keep mmengine's behaviour.
Best-metric checkpoints (``save_best``) are saved as in mmengine.
"""
import os
import os.path as osp
from typing import List, Optional, Tuple

from mmengine.dist import broadcast_object_list, is_distributed, is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook

from ssod.compat.checkpoint_files import (LAST_CHECKPOINT, TMP_SUFFIX, atomic_write_text, commit_file,
                                          find_resume_checkpoint, numbered_checkpoints,
                                          remove_temporary_files)
from ssod.registry import HOOKS
from ..non_finite_guard import check_finite_weights


def _is_local(path: Optional[str]) -> bool:
    return path is None or '://' not in str(path)


@HOOKS.register_module()
class CheckpointHook(MMEngineCheckpointHook):
    """mmengine's ``CheckpointHook`` with atomic saves and a resume that finds a complete checkpoint.

    Arguments: exactly those of ``mmengine.hooks.CheckpointHook`` (see the module docstring).
    """

    # ---------------------------------------------------------------------------------------------
    # Where checkpoints go

    def _output_folder(self, runner) -> str:
        """``self.out_dir`` as mmengine's ``before_train`` resolves it (usable before it ran)."""
        if self.out_dir is None or self.out_dir == runner.work_dir:
            return runner.work_dir
        return osp.join(self.out_dir, osp.basename(runner.work_dir.rstrip(osp.sep)))

    def _atomic(self, runner) -> bool:
        """Whether this hook writes to a local disk, where the atomic protocol applies."""
        if self.file_client_args is not None or self.backend_args is not None:
            return False
        if not _is_local(self._output_folder(runner)):
            return False
        backend = getattr(self, 'file_backend', None)
        return backend is None or isinstance(backend, LocalBackend)

    # ---------------------------------------------------------------------------------------------
    # Resume

    def before_run(self, runner) -> None:
        """With ``resume=True`` and no path: choose the newest complete checkpoint for the runner."""
        if not (getattr(runner, '_resume', False) and getattr(runner, '_load_from', None) is None):
            return
        if not self._atomic(runner):
            return
        found: List[object] = [None, []]
        if is_main_process():
            found = list(self._resume_candidate(runner))
        if is_distributed():
            broadcast_object_list(found)
        path, skipped = found
        for skipped_path, reason in skipped:
            runner.logger.warning(f'resume: skipped {skipped_path}: it {reason}')
        if path is not None:
            runner.logger.info(f'resume: continuing from {path}, the newest complete checkpoint')
            runner._load_from = path
        else:
            if skipped:
                runner.logger.warning(
                    f'resume: no complete checkpoint in {self._output_folder(runner)}; '
                    f'training starts from iteration 0')
            runner._resume = False  # mmengine would fail on a last_checkpoint naming a bad file

    def _resume_candidate(self, runner) -> Tuple[Optional[str], List[Tuple[str, str]]]:
        folders = [self._output_folder(runner), runner.work_dir]
        return find_resume_checkpoint(runner.work_dir, folders, self.filename_tmpl)

    # ---------------------------------------------------------------------------------------------
    # Start of training: leftovers of killed saves

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not (self._atomic(runner) and is_main_process()):
            return
        for folder in dict.fromkeys([self.out_dir, runner.work_dir]):
            for path in remove_temporary_files(folder):
                runner.logger.info(f'removed {path}, left by a checkpoint save that did not finish')
        if self.max_keep_ckpts > 0 and runner.iter > 0:
            kept = set(self.keep_ckpt_ids)
            for step, path in numbered_checkpoints(self.out_dir, self.filename_tmpl):
                if step < runner.iter and step not in kept:
                    os.remove(path)
                    runner.logger.info(f'removed {path}: max_keep_ckpts={self.max_keep_ckpts} no '
                                       f'longer keeps it (its deletion was interrupted)')

    # ---------------------------------------------------------------------------------------------
    # Saving

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._atomic(runner):
            return super()._save_checkpoint_with_step(runner, step, meta)
        check_finite_weights(runner, self.filename_tmpl.format(step))

        dropped = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                dropped.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        # 1. the complete file under a temporary name (mmengine's writer; only the main process writes)
        runner.save_checkpoint(
            self.out_dir,
            filename + TMP_SUFFIX,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        # 2. durable, then visible under its name; 3. last_checkpoint names it; 4. rotation
        commit_file(osp.join(self.out_dir, filename + TMP_SUFFIX), self.last_ckpt)
        atomic_write_text(osp.join(runner.work_dir, LAST_CHECKPOINT), self.last_ckpt)
        for old_step in dropped:
            old = osp.join(self.out_dir, self.filename_tmpl.format(old_step))
            if old_step != step and osp.isfile(old):
                os.remove(old)
