"""A few SSD-KD iterations through mmengine's Runner from the shipped
Fashion-MNIST config (random teacher weights, generated val data), with a
checkpoint round trip, --resume and student extraction."""
import os.path as osp

import pytest
import torch
from _fmnist_fake import write_idx_set
from conftest import ROOT
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmrazor.registry import MODELS

from ssdkd_mm.engine.config import load_config

CONFIG = osp.join(ROOT, 'configs/ssdkd/ssdkd_resnet34_resnet18_fmnist.py')


def small_cfg(tmp_path, max_iters=6, stop_at=None):
    cfg = load_config(CONFIG, log=False)
    data_root = write_idx_set(str(tmp_path / 'fmnist'))
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    teacher_ckpt = tmp_path / 'teacher.pth'
    if not teacher_ckpt.exists():
        torch.manual_seed(1)
        teacher = MODELS.build(cfg.model.teacher)
        torch.save(dict(state_dict=teacher.state_dict()), teacher_ckpt)
    cfg.model.teacher_ckpt = str(teacher_ckpt)
    cfg.model.inversion.synth_batch_size = 16
    cfg.model.kd.batch_size = 8
    cfg.model.replay_buffer.capacity = 24
    cfg.work_dir = str(tmp_path / 'work')
    warmup = 2
    cfg.train_cfg.max_iters = stop_at or max_iters
    cfg.train_cfg.val_interval = max_iters
    cfg.param_scheduler.architecture[0].update(
        begin=warmup, end=max_iters, T_max=max_iters - warmup)
    cfg.param_scheduler.generator[0].update(end=max_iters)
    cfg.custom_hooks = [
        dict(type='mmrazor.SSDKDInversionHook', warmup_iters=warmup,
             synth_interval=2, log_interval=1),
        dict(type='mmrazor.SSDKDReplayBufferHook', refresh_interval=3,
             log_interval=1, vis_interval=4, vis_num=8),
        dict(type='mmrazor.SSDKDPrioritySamplerHook', begin_iter=warmup,
             log_interval=1),
    ]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.update(interval=2, save_best=None)
    return cfg


class StateProbe(Hook):
    """Captures the SSD-KD state right before the first iteration."""

    def before_train(self, runner):
        alg = runner.model
        self.buffer = alg.buffer.state_dict()
        self.sampler = alg.sampler.state_dict()
        self.state = alg.ssdkd_state_dict()
        self.lr = runner.optim_wrapper['architecture'].get_lr()['lr'][0]


@pytest.mark.e2e
def test_runner_trains_checkpoints_resumes_and_extracts(tmp_path):
    cfg = small_cfg(tmp_path, stop_at=4)
    runner = Runner.from_cfg(cfg)
    runner.train()
    alg = runner.model
    assert alg.rounds == 3 and alg.kd_steps == 2  # iters 0,1,2 synthesise
    # the teacher was evaluated before training, on the val set
    assert 'teacher.accuracy/top1' in runner.val_loop.teacher_metrics
    assert osp.isfile(osp.join(cfg.work_dir, 'buffer_vis', 'iter_4.png'))

    ckpt_path = osp.join(cfg.work_dir, 'iter_4.pth')
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=False)
    # one key, the algorithm's whole state (ssdkd_state_dict)
    assert set(ckpt['ssdkd']) == {
        'version', 'rounds', 'kd_steps', 'synth_time', 'kd_time',
        'nonfinite_skipped', 'synthesizer', 'replay'}
    assert not any('buffer' in k for k in ckpt['state_dict'])
    assert {k.split('.')[0] for k in ckpt['state_dict']} == {
        'architecture', 'teacher', 'generator'}

    # --resume continues from exactly the saved SSD-KD state.
    cfg2 = small_cfg(tmp_path)
    cfg2.resume, cfg2.load_from = True, ckpt_path
    runner2 = Runner.from_cfg(cfg2)
    probe = StateProbe()
    runner2.register_hook(probe, priority='LOWEST')
    runner2.train()
    saved = ckpt['ssdkd']
    for k, v in saved['replay']['buffer'].items():
        got = probe.buffer[k]
        assert (torch.equal(got, v) if torch.is_tensor(v) else got == v), k
    assert probe.sampler == saved['replay']['sampler']
    assert probe.state['rounds'] == saved['rounds'] == 3
    assert torch.equal(probe.state['synthesizer']['bn_loss']['ema'][0][0],
                       saved['synthesizer']['bn_loss']['ema'][0][0])
    assert probe.lr == pytest.approx(
        ckpt['optimizer']['architecture']['param_groups'][0]['lr'])
    assert runner2.iter == 6 and runner2.model.kd_steps == 4

    # The student alone loads into a plain mmpretrain model, strictly.
    from ssdkd_mm.apis import extract_student
    dst = str(tmp_path / 'student.pth')
    extract_student(osp.join(cfg.work_dir, 'iter_6.pth'), dst)
    student = MODELS.build(cfg.model.architecture)
    from mmengine.runner import load_checkpoint
    load_checkpoint(student, dst, strict=True)
    for k, v in runner2.model.student.state_dict().items():
        assert torch.equal(v, student.state_dict()[k]), k
    # ... and in mmpretrain's own inferencer, with the plain student config.
    import numpy as np
    from mmpretrain.apis import ImageClassificationInferencer
    inferencer = ImageClassificationInferencer(
        model=osp.join(ROOT,
                       'configs/fashion_mnist/resnet18_fmnist_student_real.py'),
        pretrained=dst, device='cpu')
    assert 0 <= inferencer(np.zeros((28, 28), np.uint8))[0]['pred_label'] < 10


@pytest.mark.e2e
def test_diagnostics_logged_and_bn_recalibrated_before_the_last_checkpoint(
        tmp_path):
    """The replay diagnostics reach the MessageHub at the log interval; the
    recalibration hook re-estimates the student's BN statistics at the last
    iteration, before the last checkpoint is written."""
    cfg = small_cfg(tmp_path, max_iters=6)
    cfg.custom_hooks.append(
        dict(type='mmrazor.SSDKDBNRecalibrationHook', num_batches=3))

    class Spy(Hook):
        priority = 'VERY_LOW'  # where the checkpoint hook saves

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            bn = runner.model.student.backbone.bn1
            self.tracked = int(bn.num_batches_tracked)

    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    runner = Runner.from_cfg(cfg)
    spy = Spy()
    runner.register_hook(spy)
    runner.train()
    scalars = runner.message_hub.log_scalars
    for name in ('is_ess', 'sampler_eff_size', 'drawn_age', 'turnover',
                 'draws_per_image', 'buffer_conf', 'insert_conf'):
        assert f'train/ssdkd/{name}' in scalars, name
    conf = scalars['train/ssdkd/buffer_conf'].current()
    assert 0 < conf <= 1
    # reset, then a cumulative average over the 3 recalibration batches
    assert spy.tracked == 3
