"""Bad input gives a clear error: one test per row of the table in
docs/reliability.md."""
import logging

import pytest
import torch
import torch.nn as nn
from conftest import build_optim, tiny_algorithm_cfg, tiny_classifier
from mmengine.model import BaseModel
from mmrazor.registry import MODELS

from ssdkd_mm.engine.runner import SSDKDValLoop, val_loop


def build(**overrides):
    torch.manual_seed(0)
    return MODELS.build(tiny_algorithm_cfg(**overrides))


def save_teacher(path, **kwargs):
    torch.manual_seed(0)
    teacher = MODELS.build(tiny_classifier(**kwargs))
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return str(path)


def test_missing_teacher_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match='Teacher checkpoint not found.*teacher_ckpt'):
        build(teacher_ckpt=str(tmp_path / 'missing.pth'))


def test_unreadable_teacher_checkpoint(tmp_path):
    path = save_teacher(tmp_path / 'teacher.pth')
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:  # a download cut short
        f.write(data[:len(data) // 2])
    with pytest.raises(RuntimeError, match='cannot be read.*truncated'):
        build(teacher_ckpt=path)


def test_checkpoint_keys_do_not_match_teacher(tmp_path):
    path = save_teacher(tmp_path / 'r34.pth', depth=34)
    with pytest.raises(RuntimeError,
                       match=r'does not match the teacher.*: 0 missing and '
                       r'\d+ unexpected keys \(e.g. \[.backbone.layer1.2'):
        build(teacher_ckpt=path)


def test_teacher_and_student_class_counts_differ():
    with pytest.raises(ValueError,
                       match='teacher predicts 10 classes but the student 5'):
        build(architecture=tiny_classifier(num_classes=5))


def test_teacher_below_accuracy_floor(monkeypatch):
    loop = SSDKDValLoop.__new__(SSDKDValLoop)  # the check alone, no data
    loop.teacher_floor, loop.teacher_floor_metric = 90.0, 'accuracy/top1'
    metrics = {'teacher.accuracy/top1': 12.5}
    loop.teacher_floor_action = 'warn'
    logged = []
    monkeypatch.setattr(val_loop, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw['level'])))
    loop.check_teacher_floor(metrics)
    assert len(logged) == 1 and logged[0][1] == logging.WARNING
    assert 'below teacher_floor = 90' in logged[0][0]
    loop.teacher_floor_action = 'stop'
    with pytest.raises(RuntimeError,
                       match=r'accuracy/top1 = 12.5 .* below teacher_floor'):
        loop.check_teacher_floor(metrics)
    loop.check_teacher_floor({'teacher.accuracy/top1': 95.0})  # passes
    with pytest.raises(ValueError, match='teacher_floor_action'):
        SSDKDValLoop(None, {}, None, teacher_floor_action='abort')


def test_generator_channels_do_not_fit_teacher():
    with pytest.raises(ValueError, match='3-channel images but the data '
                       'preprocessor normalises 1 channels'):
        build(generator=dict(type='SSDKDGenerator', nz=8, ngf=4,
                             img_size=28, nc=3))


class FixedSizeTeacher(BaseModel):
    """A teacher that only takes 1×28×28 inputs (flatten + linear)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.fc(inputs.flatten(1))


def test_generator_size_does_not_fit_teacher():
    with pytest.raises(ValueError,
                       match=r'makes \(1, 32, 32\) images .* teacher cannot '
                       'take'):
        build(teacher=FixedSizeTeacher(),
              generator=dict(type='SSDKDGenerator', nz=8, ngf=4, img_size=32,
                             nc=1))
    build(teacher=FixedSizeTeacher())  # 28×28 fits


def test_buffer_capacity_smaller_than_kd_batch():
    with pytest.raises(ValueError, match=r'capacity \(4\) is smaller than '
                       r'kd.batch_size \(8\)'):
        build(replay_buffer=dict(capacity=4))


def test_phi_setting_out_of_range():
    with pytest.raises(ValueError, match='modulating.gamma must be >= 0'):
        build(modulating=dict(gamma=-1.0))


def test_alpha_setting_out_of_range():
    with pytest.raises(ValueError, match='sampler.alpha .* must be >= 0'):
        build(sampler=dict(alpha=-0.5))


def test_beta_setting_out_of_range():
    with pytest.raises(ValueError, match=r'sampler.beta .* in \[0, 1\]'):
        build(sampler=dict(beta=(0.4, 1.5)))


def test_tau_setting_out_of_range():
    with pytest.raises(ValueError, match='kd.tau must be > 0'):
        build(kd=dict(tau=0))
    with pytest.raises(ValueError, match='priority.tau .* must be > 0'):
        build(priority=dict(tau=0))
    with pytest.raises(ValueError, match='inversion.adv_tau must be > 0'):
        build(inversion=dict(adv_tau=-1.0))


class _DataRunner:
    """What ValLoop needs of a Runner to build its dataset."""
    seed, _randomness_cfg = 0, {}

    def build_dataloader(self, cfg, seed, diff_rank_seed):
        from mmpretrain.registry import DATASETS
        return DATASETS.build(cfg['dataset'])


def test_missing_val_data(tmp_path):
    val = dict(dataset=dict(type='FashionMNIST', test_mode=True,
                            download=False,
                            data_root=str(tmp_path / 'no_fmnist')))
    with pytest.raises(FileNotFoundError,
                       match='Validation data not found: .*no_fmnist.*'
                       'val_dataloader.dataset.data_root'):
        SSDKDValLoop(_DataRunner(), val, None)


def test_nonfinite_loss_skipped_counted_then_stops(monkeypatch):
    alg = build(nonfinite_patience=2)
    ow = build_optim(alg)
    alg.synthesis_due, alg.distill_due, alg.adversarial = True, False, False
    alg.train_step(None, ow)  # a finite round fills the buffer

    # An Inf in the inversion loss: the round is skipped, nothing changes.
    gen_before = {k: v.clone() for k, v in alg.generator.state_dict().items()}
    n_before = alg.buffer.n_inserted_total
    real_loss = alg.synthesizer.bn_loss.loss
    monkeypatch.setattr(alg.synthesizer.bn_loss, 'loss',
                        lambda: real_loss() * float('inf'))
    alg.synthesizer.g_steps = 1
    out = alg.train_step(None, ow)
    assert out == {'nonfinite_skipped': 1.0}
    assert alg.buffer.n_inserted_total == n_before and alg.rounds == 1
    for k, v in alg.generator.state_dict().items():
        assert torch.equal(v, gen_before[k]), k
    monkeypatch.setattr(alg.synthesizer.bn_loss, 'loss', real_loss)

    # A finite step resets the count of skips in a row; a NaN KD loss: the
    # student step is skipped; K = 2 in a row stop training.
    alg.synthesis_due, alg.distill_due = False, True
    assert 'loss_kd' in alg.train_step(None, ow)
    assert alg.guard.streak == 0
    student_before = {
        k: v.detach().clone() for k, v in alg.student.named_parameters()}
    real_kl = alg.task.kl
    monkeypatch.setattr(
        alg.task, 'kl',
        lambda s, t, tau, w=None: real_kl(s, t, tau, w) * float('nan'))
    assert alg.train_step(None, ow) == {'nonfinite_skipped': 2.0}
    for k, v in alg.student.named_parameters():  # no optimizer step
        assert torch.equal(v, student_before[k]), k
    assert torch.isfinite(alg.buffer.priority).all()
    with pytest.raises(FloatingPointError,
                       match='2 non-finite losses in a row .*KD step'):
        alg.train_step(None, ow)
    assert alg.ssdkd_state_dict()['nonfinite_skipped'] == 3
