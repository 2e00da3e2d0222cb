"""A tiny SSD-KD config for subprocess runs of tools/train.py (kill/resume,
2-process gloo), and a probe hook those runs import to dump their state.

The probe is configured by environment variables, so one config serves
every run:

* ``SSDKD_PROBE_DIR``: where ``state_<when>_rank<r>.pt`` is written, with
  ``when`` = ``start`` (``before_train``, after the SSD-KD hooks restored a
  resumed state) and ``end`` (``after_train``);
* ``SSDKD_KILL``: ``'<phase>:<iter>'`` makes the process SIGKILL itself;
  ``phase`` is ``before_iter`` (before iteration ``iter`` runs, 0-based),
  ``after_iter`` (after iteration ``iter`` and its checkpoint) or
  ``in_save`` (while checkpoint ``iter_<iter>.pth`` is being written: after
  its bytes, before the rename).
"""
import os
import os.path as osp
import signal
import subprocess
import sys

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmrazor.registry import HOOKS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def snapshot(runner) -> dict:
    """Everything a resumed run must continue with, on the CPU."""
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    gen = model.generator
    gen = gen.module if is_model_wrapper(gen) else gen
    student = model.architecture
    student = student.module if is_model_wrapper(student) else student
    schedulers = {
        k: [s.state_dict() for s in v]
        for k, v in runner.param_schedulers.items()
    }
    return dict(
        iter=runner.iter,
        buffer=model.buffer.state_dict(),
        sampler=model.sampler.state_dict(),
        ssdkd=model.ssdkd_state_dict(),
        generator={k: v.cpu() for k, v in gen.state_dict().items()},
        student={k: v.cpu() for k, v in student.state_dict().items()},
        optimizer=runner.optim_wrapper.state_dict(),
        param_schedulers=schedulers)


@HOOKS.register_module(force=True)
class SSDKDTestProbeHook(Hook):
    priority = 'LOWEST'  # after the SSD-KD hooks restored their state

    def __init__(self):
        self.out = os.environ.get('SSDKD_PROBE_DIR')
        kill = os.environ.get('SSDKD_KILL')
        self.phase, self.kill_at = (None, None)
        if kill:
            phase, at = kill.split(':')
            self.phase, self.kill_at = phase, int(at)

    def _dump(self, runner, when):
        if self.out:
            os.makedirs(self.out, exist_ok=True)
            torch.save(snapshot(runner),
                       osp.join(self.out, f'state_{when}_rank{get_rank()}.pt'))

    def before_train(self, runner):
        self._dump(runner, 'start')

    def after_train(self, runner):
        self._dump(runner, 'end')

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.phase == 'before_iter' and runner.iter == self.kill_at:
            _die()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if self.phase == 'after_iter' and runner.iter + 1 == self.kill_at:
            _die()

    def before_save_checkpoint(self, runner, checkpoint):
        if self.phase == 'in_save' and checkpoint['meta']['iter'] == \
                self.kill_at:
            from ssdkd_mm.utils import atomic_io

            def fsync_then_die(fd):  # bytes written, rename not done
                _die()

            atomic_io.os.fsync = fsync_then_die


def tiny_model(teacher_ckpt: str) -> dict:

    def classifier():
        return dict(
            _scope_='mmpretrain',
            type='ImageClassifier',
            backbone=dict(type='ResNet_CIFAR', depth=18, in_channels=1,
                          stem_channels=4, base_channels=4),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=32))

    return dict(
        _scope_='mmrazor',
        type='SSDKDDistillation',
        architecture=classifier(),
        teacher=classifier(),
        teacher_ckpt=teacher_ckpt,
        data_preprocessor=dict(
            type='mmpretrain.ClsDataPreprocessor', num_classes=10,
            mean=[72.94], std=[90.02], to_rgb=False),
        generator=dict(type='SSDKDGenerator', nz=16, ngf=8, img_size=28,
                       nc=1),
        inversion=dict(synth_batch_size=8, g_steps=2),
        replay_buffer=dict(capacity=24),
        kd=dict(batch_size=8))


def write_tiny_config(tmp_path, max_iters=8, warmup=2, ckpt_interval=2,
                      max_keep_ckpts=2) -> str:
    """A tiny SSD-KD experiment on the shipped runtime (no val set), and its
    teacher checkpoint; returns the config path."""
    from mmrazor.registry import MODELS
    teacher_ckpt = str(tmp_path / 'teacher.pth')
    model = tiny_model(teacher_ckpt)
    torch.manual_seed(1)
    teacher = MODELS.build(model['teacher'])
    torch.save(dict(state_dict=teacher.state_dict()), teacher_ckpt)
    cfg = dict(
        custom_imports=dict(imports=['ssdkd_mm', '_tiny_ssdkd'],
                            allow_failed_imports=False),
        model=model,
        optim_wrapper=dict(
            constructor='mmrazor.SeparateOptimWrapperConstructor',
            architecture=dict(optimizer=dict(type='SGD', lr=0.05,
                                             momentum=0.9)),
            generator=dict(optimizer=dict(type='Adam', lr=1e-3,
                                          betas=(0.5, 0.999)))),
        param_scheduler=dict(
            architecture=[dict(type='CosineAnnealingLR', by_epoch=False,
                               begin=warmup, end=max_iters,
                               T_max=max_iters - warmup, eta_min=1e-4)],
            generator=[dict(type='ConstantLR', factor=1.0, by_epoch=False,
                            begin=0, end=max_iters)]),
        train_dataloader=dict(
            batch_size=1, num_workers=0, persistent_workers=False,
            sampler=dict(type='InfiniteSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate'),
            dataset=dict(type='mmrazor.SSDKDPlaceholderDataset')),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        val_cfg=None, val_dataloader=None, val_evaluator=None,
        test_cfg=None, test_dataloader=None, test_evaluator=None,
        custom_hooks=[
            dict(type='mmrazor.SSDKDInversionHook', warmup_iters=warmup,
                 synth_interval=2, eval_teacher=False, log_interval=1),
            dict(type='mmrazor.SSDKDReplayBufferHook', refresh_interval=3,
                 vis_interval=0, log_interval=1),
            dict(type='mmrazor.SSDKDPrioritySamplerHook', begin_iter=warmup,
                 log_interval=1),
            dict(type='mmrazor.SSDKDTestProbeHook'),
        ],
    )
    base = osp.join(ROOT, 'configs/ssdkd/_base_/ssdkd_runtime.py')
    lines = [f'_base_ = [{base!r}]']
    lines += [f'{k} = {v!r}' for k, v in cfg.items()]
    lines += [
        "default_hooks = dict(logger=dict(interval=1), checkpoint=dict("
        f"interval={ckpt_interval}, max_keep_ckpts={max_keep_ckpts}, "
        "save_best=None))",
        "env_cfg = dict(dist_cfg=dict(backend='gloo'))",
    ]
    path = str(tmp_path / 'tiny_ssdkd.py')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def child_env(**extra) -> dict:
    """Environment for a subprocess that must import this checkout (and
    this module), single-threaded."""
    env = dict(os.environ)
    paths = [ROOT, osp.join(ROOT, 'tests')]
    if env.get('PYTHONPATH'):
        paths.append(env['PYTHONPATH'])
    env.update(PYTHONPATH=os.pathsep.join(paths), OMP_NUM_THREADS='1',
               MKL_NUM_THREADS='1')
    env.update({k: str(v) for k, v in extra.items()})
    return env


def assert_same(a, b, path='state'):
    """Exact equality of nested dicts/lists of tensors and Python values."""
    if isinstance(a, dict):
        assert set(a) == set(b), (path, sorted(set(a) ^ set(b)))
        for k in a:
            assert_same(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f'{path}.{i}')
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype \
            and torch.equal(a.cpu(), b.cpu()), path
    else:
        assert a == b, (path, a, b)


def assert_resumed_from(start: dict, ckpt: dict) -> None:
    """The state a resumed run starts with is exactly the checkpoint's."""
    assert start['iter'] == ckpt['meta']['iter']
    saved = ckpt['ssdkd']
    assert_same(start['buffer'], saved['replay']['buffer'], 'buffer')
    assert_same(start['sampler'], saved['replay']['sampler'], 'sampler')
    assert_same(start['ssdkd'], saved, 'ssdkd')
    for name, prefix in (('generator', 'generator.'),
                         ('student', 'architecture.')):
        weights = {
            k[len(prefix):]: v
            for k, v in ckpt['state_dict'].items() if k.startswith(prefix)
        }
        assert_same(start[name], weights, name)
    assert_same(start['optimizer'], ckpt['optimizer'], 'optimizer')
    assert_same(start['param_schedulers'], ckpt['param_schedulers'],
                'param_schedulers')


def train(cfg: str, work_dir: str, *args,
          **env) -> subprocess.CompletedProcess:
    """``tools/train.py cfg --work-dir work_dir *args`` in a subprocess
    with :func:`child_env` (``env``: extra variables, e.g. the probe's)."""
    return subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/train.py'), cfg,
         '--work-dir', work_dir, *args],
        env=child_env(**env), cwd=ROOT, capture_output=True, text=True,
        timeout=300)
