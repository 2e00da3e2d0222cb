# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Crash-safe checkpoints for long data-free runs."""
import os.path as osp
from typing import Iterator, Optional, Tuple

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from mmrazor.registry import HOOKS
from ...utils.atomic_io import (ATOMIC_BACKEND, atomic_write,
                                remove_stale_tmp_files)

# Parts of a runner checkpoint that must hold finite numbers only (the
# message hub may legitimately log a NaN loss of a skipped step).
_FINITE_KEYS = ('state_dict', 'optimizer', 'param_schedulers', 'ssdkd')


def _tensors(obj, prefix: str) -> Iterator[Tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f'{prefix}.{k}')
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f'{prefix}.{i}')


def first_nonfinite(checkpoint: dict) -> Optional[str]:
    """Name of the first floating-point tensor holding NaN/Inf among the
    model, optimizer, scheduler and SSD-KD parts of ``checkpoint``."""
    for key in _FINITE_KEYS:
        for name, t in _tensors(checkpoint.get(key), key):
            if t.is_floating_point() and not torch.isfinite(t).all():
                return name
    return None


@HOOKS.register_module()
class SSDKDCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` made crash-safe.

    A run killed at any moment (SIGKILL, pre-emption, OOM killer) can be
    resumed from ``last_checkpoint``:

    * checkpoint files are written atomically (temporary file in the same
      directory, fsync, ``os.replace``) through
      :class:`~ssdkd_mm.utils.atomic_io.AtomicLocalBackend`; this includes the
      in-place rewrite of the latest checkpoint that ``save_best`` does;
    * the ``last_checkpoint`` pointer is replaced atomically too, and only
      after the checkpoint it names is complete;
    * outdated checkpoints (``max_keep_ckpts``) are deleted only after the
      new one is complete (mmengine deletes first, so with
      ``max_keep_ckpts=1`` a kill during the save left nothing to resume);
    * a checkpoint whose weights, optimizer or SSD-KD state hold NaN/Inf is
      never written: the hook raises ``FloatingPointError`` and the previous
      checkpoint stays the latest;
    * temporary files of a killed save are removed before training;
    * a new best checkpoint (``save_best``) is written before the previous
      best is removed (mmengine removes first, so a kill in between left
      none), and only a previous best inside this run's checkpoint
      directory is ever removed: a copied work dir resumes with the
      original's absolute ``best_ckpt`` path in the message hub, and that
      file, outside the work dir, is left alone.

    Arguments are those of :class:`mmengine.hooks.CheckpointHook`; with a
    local ``out_dir`` and no ``backend_args``/``file_client_args`` the
    atomic backend is used.

    Args:
        check_finite (bool): Refuse to write non-finite checkpoints.
            Defaults to True.
    """

    def __init__(self, *args, check_finite: bool = True, **kwargs) -> None:
        out_dir = kwargs.get('out_dir') or ''
        if (kwargs.get('backend_args') is None
                and kwargs.get('file_client_args') is None
                and '://' not in str(out_dir)):
            kwargs['backend_args'] = dict(backend=ATOMIC_BACKEND)
        super().__init__(*args, **kwargs)
        self.check_finite = check_finite
        self._last_good: Optional[str] = None

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process():
            for d in {runner.work_dir, str(self.out_dir)}:
                if osp.isdir(d):
                    for path in remove_stale_tmp_files(d):
                        print_log(f'Removed {path} (left by a killed save)',
                                  logger='current')

    def _best_paths(self) -> dict:
        if len(self.key_indicators) == 1:
            return {None: getattr(self, 'best_ckpt_path', None)}
        return dict(getattr(self, 'best_ckpt_path_dict', {}) or {})

    def _set_best_paths(self, paths: dict) -> None:
        for key, path in paths.items():
            if key is None:
                self.best_ckpt_path = path
            else:
                self.best_ckpt_path_dict[key] = path

    def _owns(self, path: str) -> bool:
        """Whether ``path`` lies in this run's checkpoint directory."""
        out_dir = str(self.out_dir)
        if '://' in out_dir or '://' in str(path):
            return str(path).startswith(out_dir.rstrip('/') + '/')
        path, out_dir = osp.realpath(path), osp.realpath(out_dir)
        return osp.commonpath([path, out_dir]) == out_dir

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best:
            return
        old = self._best_paths()
        # mmengine removes the previous best before writing the new one:
        # hide it, and replace it here once the new one is complete
        self._set_best_paths({k: None for k in old})
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            new = self._best_paths()
            self._set_best_paths(
                {k: new.get(k) or old[k] for k in old})
        if not is_main_process():
            return
        for key, path in old.items():
            if not path or not new.get(key) or new[key] == path:
                continue
            if not self._owns(path):
                print_log(f'The previous best checkpoint {path} is outside '
                          f'{self.out_dir} (a copied work dir): left alone',
                          logger='current')
            elif self.file_backend.isfile(path):
                self.file_backend.remove(path)
                print_log(f'The previous best checkpoint {path} is removed',
                          logger='current')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # Runs last (this hook's priority is VERY_LOW), after the SSD-KD
        # hooks added their state, and before anything is written.
        if not self.check_finite:
            return
        bad = first_nonfinite(checkpoint)
        if bad is not None:
            raise FloatingPointError(
                'Refusing to write the checkpoint of iteration '
                f"{checkpoint.get('meta', {}).get('iter', runner.iter)}: "
                f'{bad} contains NaN/Inf. Nothing was written; '
                '`last_checkpoint` in the work dir still names the last '
                'complete checkpoint. Resume from it with lower learning '
                'rates or without autocast.')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            # In the message hub before saving, so the checkpoint knows
            # which files to rotate after a resume.
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self._last_good = self.last_ckpt
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        try:
            runner.save_checkpoint(
                self.out_dir,
                filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
        except FloatingPointError:
            self.last_ckpt = self._last_good
            runner.message_hub.update_info('last_ckpt', self.last_ckpt)
            raise
        if not is_main_process():
            return
        atomic_write(self.last_ckpt, osp.join(runner.work_dir,
                                              'last_checkpoint'))
        for old in outdated:
            path = self.file_backend.join_path(self.out_dir,
                                               self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)
