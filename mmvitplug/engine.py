"""Training that survives being killed: atomic checkpoint files and resumable random state.

mmengine 0.10 writes a checkpoint in place, so a job killed during the save (a scheduler's
SIGKILL, a full disk) leaves a cut-off ``iter_N.pth``; and it does not save the random number
generators, so a resumed run draws different augmentations, drop-path masks and RoI samples than
the uninterrupted run would have; and its ``CheckpointHook`` deletes the oldest kept checkpoint
*before* writing the new one, so with ``max_keep_ckpts=1`` a kill during the save leaves nothing
to resume from. Three pieces close these gaps; the repository's training tool adds them to every
config it runs (:func:`make_resumable`), and a config run by another script can name them
itself::

    default_hooks = dict(checkpoint=dict(type='DurableCheckpointHook',
                                         backend_args=dict(backend='atomic_local')))
    custom_hooks = [dict(type='RandomStateHook')]

With both, a run killed at any point and resumed with ``--resume`` ends with the same weights
and metrics as an uninterrupted one (CPU, seeded, ``num_workers >= 1``; see
:class:`RandomStateHook` for ``num_workers=0``). Both hooks opt the process in to loading
runner checkpoints under torch's safe loading (:func:`allow_runner_checkpoints`) before the
runner resumes or loads one.
"""
import logging
import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import get_world_size, is_main_process
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from .utils.checkpoint import allow_runner_checkpoints, atomic_write

__all__ = ['AtomicLocalBackend', 'DurableCheckpointHook', 'RandomStateHook', 'make_resumable']

#: name of :class:`AtomicLocalBackend` in mmengine's ``backend_args``
ATOMIC_BACKEND = 'atomic_local'


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic (:func:`atomic_write`): a file
    appears under its name only once complete, so a checkpoint named by ``last_checkpoint``
    (which mmengine's ``CheckpointHook`` updates after the save returns) is always whole."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(str(filepath), obj.encode(encoding))


register_backend(ATOMIC_BACKEND, AtomicLocalBackend)


@HOOKS.register_module()
class DurableCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` that writes the new checkpoint before it deletes the
    oldest one beyond ``max_keep_ckpts``, so a kill at any moment of a save leaves at least the
    previous checkpoint (with ``max_keep_ckpts=1`` mmengine's order leaves none).

    The list of kept checkpoints is updated before the save, as mmengine does, so the new file
    records itself; a kill between the save and the deletion leaves one extra old file, which
    no later save deletes.
    """

    def before_run(self, runner) -> None:
        allow_runner_checkpoints()  # the runner resumes from what this hook saves
        super().before_run(runner)

    def _save_checkpoint_with_step(self, runner, step, meta):
        limit = self.max_keep_ckpts
        stale = None
        repeated = bool(self.keep_ckpt_ids) and self.keep_ckpt_ids[-1] == step
        if limit > 0 and not repeated:
            if len(self.keep_ckpt_ids) == limit:
                stale = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        self.max_keep_ckpts = -1  # mmengine's save without its delete-first pruning
        try:
            super()._save_checkpoint_with_step(runner, step, meta)
        finally:
            self.max_keep_ckpts = limit
        if stale is not None and is_main_process():
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(stale))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # DeepSpeed saves directories
                self.file_backend.rmtree(path)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Saves the random generators of Python, NumPy and torch (CPU and CUDA) in every
    checkpoint and restores them when training resumes from one.

    The states are restored in ``before_train``, after mmengine has loaded the checkpoint and
    re-seeded. Data loading workers draw from their own generators, seeded per worker, which
    replay identically when mmengine skips the already-trained batches; with ``num_workers=0``
    that replay runs in the main process and advances the restored generators, so the resumed
    data augmentation differs from the uninterrupted run's (a warning says so). With several
    processes each rank would need its own states; only rank 0's are saved, so they are
    restored in single-process training only.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    def before_run(self, runner) -> None:
        allow_runner_checkpoints()  # the checkpoints this hook extends hold numpy states

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['random_states'] = dict(
            python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state(),
            cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Only a resume continues a run: loading weights (load_from) starts a new one.
        if getattr(runner, '_resume', False):
            self._pending = checkpoint.get('random_states')

    def before_train(self, runner) -> None:
        states, self._pending = self._pending, None
        if states is None:
            return
        if get_world_size() > 1:
            print_log('RandomStateHook: random states are restored in single-process '
                      'training only; this resumed run draws new ones', logger='current')
            return
        random.setstate(states['python'])
        np.random.set_state(states['numpy'])
        torch.set_rng_state(states['torch'])
        if states['cuda'] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states['cuda'])
        loader = runner.train_dataloader
        if getattr(loader, 'num_workers', 1) == 0 and runner.iter > 0:
            print_log('RandomStateHook: num_workers=0, so the skipped batches are replayed in '
                      'this process and the data augmentation of the resumed run differs from '
                      'an uninterrupted one (set num_workers >= 1 for an identical run)',
                      logger='current', level=logging.WARNING)


def make_resumable(cfg) -> None:
    """Write ``cfg``'s checkpoints atomically (when they go to local disk through mmengine's
    default backend) and new before old (:class:`DurableCheckpointHook` in place of mmengine's
    ``CheckpointHook``), and add :class:`RandomStateHook` unless the config has it."""
    hooks = cfg.get('default_hooks') or {}
    ckpt = hooks.get('checkpoint')
    if ckpt is not None and str(ckpt.get('type', '')).split('.')[-1] == 'CheckpointHook':
        ckpt['type'] = 'DurableCheckpointHook'
    if ckpt is not None and not ckpt.get('backend_args') and not ckpt.get('file_client_args') \
            and '://' not in str(ckpt.get('out_dir') or ''):
        ckpt['backend_args'] = dict(backend=ATOMIC_BACKEND)
    custom = list(cfg.get('custom_hooks') or [])
    if not any(str(h.get('type', '')).split('.')[-1] == 'RandomStateHook' for h in custom):
        custom.append(dict(type='RandomStateHook'))
    cfg.custom_hooks = custom
