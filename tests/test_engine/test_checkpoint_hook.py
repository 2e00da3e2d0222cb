"""SSDKDCheckpointHook: atomic, rotation after the save, no NaN checkpoint
(a toy model, so that each Runner run takes a fraction of a second)."""
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner

from ssdkd_mm.utils import atomic_io


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


class ToyData(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.full((2, ), float(i)))


class PoisonAt(Hook):
    """Makes a weight NaN before iteration ``at`` is checkpointed."""

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            with torch.no_grad():
                runner.model.linear.weight.fill_(float('nan'))


def toy_runner(work_dir, max_iters, **ckpt):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='InfiniteSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate'),
            batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(
                type='mmrazor.SSDKDCheckpointHook', by_epoch=False,
                interval=1, **ckpt)),
        default_scope='mmengine')


def latest(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read()


def test_rotation_and_pointer(tmp_path):
    toy_runner(tmp_path, 3, max_keep_ckpts=1).train()
    files = sorted(os.listdir(tmp_path))
    assert 'iter_3.pth' in files and 'iter_2.pth' not in files
    assert latest(tmp_path) == osp.join(str(tmp_path), 'iter_3.pth')
    assert not [f for f in files if f.endswith(atomic_io.TMP_SUFFIX)]


def test_kill_during_save_keeps_a_resumable_latest(tmp_path, monkeypatch):
    """Regression: mmengine deletes the outdated checkpoint before writing
    the new one, so with max_keep_ckpts=1 a kill during the save left
    `last_checkpoint` naming a deleted file."""
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        # The first file write of iteration 3 (after 2 checkpoints + 2
        # pointers, 2 fsyncs each: file and directory).
        if len(calls) == 9:
            raise KeyboardInterrupt('killed')
        real_fsync(fd)

    monkeypatch.setattr(atomic_io.os, 'fsync', fsync)
    with pytest.raises(KeyboardInterrupt):
        toy_runner(tmp_path, 4, max_keep_ckpts=1).train()
    assert not osp.exists(osp.join(str(tmp_path), 'iter_3.pth'))
    path = latest(tmp_path)
    assert path.endswith('iter_2.pth') and osp.isfile(path)
    ckpt = torch.load(path, map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 2

    monkeypatch.setattr(atomic_io.os, 'fsync', real_fsync)
    runner = toy_runner(tmp_path, 4, max_keep_ckpts=1)
    runner._resume, runner._load_from = True, None
    runner.train()
    assert runner.iter == 4 and latest(tmp_path).endswith('iter_4.pth')


def test_never_writes_a_nan_checkpoint(tmp_path):
    runner = toy_runner(tmp_path, 4)
    runner.register_hook(PoisonAt(3))
    with pytest.raises(FloatingPointError,
                       match='iteration 3: state_dict.linear.weight'):
        runner.train()
    assert latest(tmp_path).endswith('iter_2.pth')
    assert not osp.exists(osp.join(str(tmp_path), 'iter_3.pth'))


def _best_hook(runner):
    # runners made in the same second share a message hub: start clean
    for key in ('best_ckpt', 'best_score'):
        runner.message_hub.runtime_info.pop(key, None)
    return next(h for h in runner.hooks
                if type(h).__name__ == 'SSDKDCheckpointHook')


def test_best_checkpoint_outside_the_work_dir_is_never_deleted(tmp_path):
    """A copied work dir resumes with the original's absolute best_ckpt
    path in the message hub: mmengine deleted that file (outside the work
    dir) at the next new best."""
    original = tmp_path / 'original'
    original.mkdir()
    theirs = original / 'best_acc_iter_1.pth'
    theirs.write_bytes(b'the original run\'s best')
    work = tmp_path / 'copy'
    runner = toy_runner(work, 2, save_best='acc', rule='greater')
    hook = _best_hook(runner)
    runner.message_hub.update_info('best_ckpt', str(theirs))
    runner.message_hub.update_info('best_score', 0.1)
    hook.before_train(runner)
    assert hook.best_ckpt_path == str(theirs)
    hook._save_best_checkpoint(runner, {'acc': 0.5})
    assert theirs.read_bytes() == b'the original run\'s best'
    assert hook.best_ckpt_path == osp.join(str(work), 'best_acc_iter_0.pth')
    assert osp.isfile(hook.best_ckpt_path)


def test_best_checkpoint_is_replaced_never_removed_first(tmp_path):
    runner = toy_runner(tmp_path, 2, save_best='acc', rule='greater')
    hook = _best_hook(runner)
    hook.before_train(runner)
    hook._save_best_checkpoint(runner, {'acc': 0.5})
    first = hook.best_ckpt_path
    assert osp.isfile(first)
    runner.train_loop._iter = 1
    seen, save = [], runner.save_checkpoint

    def save_and_look(*args, **kwargs):
        seen.append(osp.isfile(first))  # a kill now must leave a best
        return save(*args, **kwargs)

    runner.save_checkpoint = save_and_look
    hook._save_best_checkpoint(runner, {'acc': 0.7})
    assert seen == [True]
    assert not osp.exists(first)
    assert hook.best_ckpt_path.endswith('best_acc_iter_1.pth')
    assert osp.isfile(hook.best_ckpt_path)
