import copy

import pytest
import torch
from conftest import build_optim, tiny_algorithm_cfg, tiny_classifier
from mmengine.model import revert_sync_batchnorm
from mmrazor.registry import MODELS


def _step(alg, ow, synth=True, distill=True, adv=True):
    alg.synthesis_due, alg.distill_due, alg.adversarial = synth, distill, adv
    return alg.train_step(None, ow)


def test_teacher_params_and_bn_stats_unchanged_after_training(tiny_alg):
    alg = tiny_alg
    ow = build_optim(alg)
    before = copy.deepcopy(alg.teacher.state_dict())
    student_before = copy.deepcopy(alg.student.state_dict())
    for i in range(3):
        alg.train()  # as IterBasedTrainLoop does every iteration
        assert not alg.teacher.training
        _step(alg, ow, adv=i > 0)
    after = alg.teacher.state_dict()
    for k, v in before.items():  # includes BN running_mean / running_var
        assert torch.equal(v, after[k]), k
    assert all(not p.requires_grad for p in alg.teacher.parameters())
    assert any(not torch.equal(v, alg.student.state_dict()[k])
               for k, v in student_before.items() if v.is_floating_point())


def test_no_student_gradient_after_generator_step(tiny_alg):
    alg = tiny_alg
    # A slightly perturbed copy of the teacher agrees with it on most
    # samples, so the masked adversarial term is active.
    alg.student.load_state_dict(alg.teacher.state_dict())
    with torch.no_grad():
        for p in alg.student.parameters():
            p.add_(1e-3 * torch.randn_like(p))
    ow = build_optim(alg)
    _step(alg, ow, distill=False, adv=False)  # fill the buffer
    out = _step(alg, ow, distill=False, adv=True)
    assert out['loss_adv'].item() != 0  # the adversarial term was active
    for name, p in alg.student.named_parameters():
        assert p.grad is None or not p.grad.any(), name
    assert all(p.requires_grad for p in alg.student.parameters())


def test_generator_learns_through_meta_gradient(tiny_alg):
    alg = tiny_alg
    ow = build_optim(alg)
    before = copy.deepcopy(alg.generator.state_dict())
    _step(alg, ow, distill=False, adv=False)
    changed = [k for k, v in alg.generator.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, before[k])]
    assert any('l1' in k for k in changed)
    assert len(alg.buffer) == 8 and alg.rounds == 1


def test_buffer_fields_and_priority_update(tiny_alg):
    alg = tiny_alg
    ow = build_optim(alg)
    _step(alg, ow, distill=False, adv=False)
    _step(alg, ow, distill=False, adv=False)
    assert len(alg.buffer) == 16
    prio_before = alg.buffer.priority.clone()
    out = _step(alg, ow, synth=False)
    assert 'loss_kd' in out and 0 < out['is_weight_mean'] <= 1
    assert alg.buffer.times_sampled.sum() == 8
    assert not torch.equal(prio_before, alg.buffer.priority)
    assert alg.buffer.images.dtype == torch.uint8
    assert not any('buffer' in k for k in alg.state_dict())


def test_bn_hooks_reattached_after_revert_sync_batchnorm():
    torch.manual_seed(0)
    alg = MODELS.build(tiny_algorithm_cfg(
        teacher=tiny_classifier(norm='SyncBN')))
    alg.synthesizer.attach(alg.teacher)
    alg = revert_sync_batchnorm(alg)  # what Runner.wrap_model does
    assert not alg.synthesizer.bn_loss.is_attached_to(alg.teacher)
    out = _step(alg, build_optim(alg), distill=False, adv=False)
    assert alg.synthesizer.bn_loss.is_attached_to(alg.teacher)
    assert out['loss_bn'].item() > 0


def test_teacher_checkpoint_strict_and_frozen(tmp_path):
    torch.manual_seed(0)
    teacher = MODELS.build(tiny_classifier())
    ckpt = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    alg = MODELS.build(tiny_algorithm_cfg(teacher_ckpt=str(ckpt)))
    assert alg.teacher._is_init
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, alg.teacher.state_dict()[k])
    alg.init_weights()  # what the Runner does; must not touch the teacher
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, alg.teacher.state_dict()[k])

    with pytest.raises(FileNotFoundError, match='model.teacher_ckpt'):
        MODELS.build(tiny_algorithm_cfg(teacher_ckpt=str(tmp_path / 'no')))
    wrong = MODELS.build(tiny_classifier(base=8))
    torch.save(dict(state_dict=wrong.state_dict()), tmp_path / 'wrong.pth')
    with pytest.raises(RuntimeError, match='does not match the teacher'):
        MODELS.build(
            tiny_algorithm_cfg(teacher_ckpt=str(tmp_path / 'wrong.pth')))


def test_baseline_switches_run_through_the_same_path():
    torch.manual_seed(0)
    fast = MODELS.build(tiny_algorithm_cfg(
        replay_buffer=dict(unbounded=True, capacity=8),
        sampler=dict(mode='uniform'),
        modulating=dict(gamma=0.0, diversity='none')))
    ow = build_optim(fast)
    for _ in range(3):
        out = _step(fast, ow)
    assert len(fast.buffer) == 24  # unbounded pool keeps everything
    assert out['is_weight_mean'].item() == 1.0


@pytest.mark.parametrize('override,match', [
    (dict(replay_buffer=dict(capacity=4)), 'capacity'),
    (dict(kd=dict(tau=0)), 'tau'),
    (dict(kd=dict(cwd_weight=1.0)), "task='seg'"),  # needs dense logits
    (dict(kd=dict(cwd_weight=-1.0)), 'cwd_weight'),
    (dict(inversion=dict(bogus=1)), 'bogus'),
    (dict(architecture=tiny_classifier(num_classes=5)), 'classes'),
    (dict(generator=dict(type='SSDKDGenerator', nz=8, ngf=4, img_size=28,
                         nc=3)), 'channels'),
])
def test_bad_configuration_errors(override, match):
    with pytest.raises((ValueError, KeyError), match=match):
        MODELS.build(tiny_algorithm_cfg(**override))


def test_bf16_autocast_and_channels_last_run(monkeypatch):
    # bf16 itself, also on CPUs that would fall back to fp32 (the fallback
    # has its own test below)
    from ssdkd_mm.models import precision
    monkeypatch.setattr(precision, 'cpu_has_native', lambda dtype: True)
    torch.manual_seed(0)
    alg = MODELS.build(tiny_algorithm_cfg(
        channels_last=True,
        inversion=dict(autocast='bfloat16'),
        kd=dict(autocast='bfloat16')))
    ow = build_optim(alg)
    _step(alg, ow, distill=False, adv=False)
    out = _step(alg, ow)
    assert torch.isfinite(out['loss_kd']) and torch.isfinite(out['loss_bn'])
    assert out['loss_kd'].dtype == torch.float32
    w = alg.student.backbone.conv1.weight
    assert w.dtype == torch.float32  # autocast keeps fp32 master weights
    assert w.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match='kd.autocast'):
        MODELS.build(tiny_algorithm_cfg(kd=dict(autocast='int8')))


@pytest.mark.parametrize('norm', ['mean', 'max'])
def test_importance_weights_scale_the_kd_loss(norm, monkeypatch):
    """Regression: PER's max-normalised weights shrink every step when some
    priority is ~ε; 'mean' keeps the loss at the scale of unit weights."""
    torch.manual_seed(0)
    alg = MODELS.build(tiny_algorithm_cfg(
        sampler=dict(is_weight_norm=norm)))
    ow = build_optim(alg, lr=0.0)  # keep the student fixed
    _step(alg, ow, distill=False, adv=False)
    idx = torch.arange(8)
    weights = torch.tensor([1e-3] * 4 + [1e-1] * 4)
    monkeypatch.setattr(alg.sampler, 'sample', lambda p, n: (idx, weights))
    from ssdkd_mm.models import BatchAugment
    alg.kd_step.augment = BatchAugment(0, False)
    out = _step(alg, ow, synth=False)
    with torch.no_grad():
        x = alg.normalize(alg.buffer.get(idx))
        kl = alg.task.kl(alg.task.logits(alg.student, x),
                         alg.task.logits(alg.teacher, x), alg.kd_step.tau)
    w = weights / weights.mean() if norm == 'mean' else weights
    assert out['loss_kd'].item() == pytest.approx((w * kl).mean().item(),
                                                  rel=1e-4)



def test_bn_recalibration_replaces_the_running_statistics(tiny_alg):
    """Uniform buffer batches, reset first: the result does not depend on
    the statistics training left, and momentum and mode are restored."""
    alg = tiny_alg
    ow = build_optim(alg)
    _step(alg, ow, distill=False, adv=False)
    bn = alg.student.backbone.bn1
    results = []
    for fill in (0.0, 5.0):
        bn.running_mean.fill_(fill)
        bn.running_var.fill_(fill + 1)
        torch.manual_seed(3)
        alg.student.eval()
        n = alg.recalibrate_student_bn(num_batches=2, batch_size=4)
        assert n > 0 and int(bn.num_batches_tracked) == 2
        assert bn.momentum == 0.1 and not alg.student.training
        results.append(bn.running_mean.clone())
    assert torch.allclose(results[0], results[1])
    assert not torch.allclose(results[0], torch.zeros_like(results[0]))


def test_low_precision_autocast_falls_back_to_fp32_without_native_kernels(
        monkeypatch):
    """Emulated bf16 is several times slower than fp32 on CPUs without
    AVX512-BF16/AMX: the autocast blocks run in fp32 there."""
    from ssdkd_mm.models import precision
    x = torch.randn(2, 3)
    w = torch.randn(3, 3)
    monkeypatch.setattr(precision, 'cpu_has_native', lambda dtype: False)
    with precision.autocast(torch.device('cpu'), 'bfloat16'):
        assert (x @ w).dtype == torch.float32
    monkeypatch.setattr(precision, 'cpu_has_native', lambda dtype: True)
    with precision.autocast(torch.device('cpu'), 'bfloat16'):
        assert (x @ w).dtype == torch.bfloat16
    with precision.autocast(torch.device('cpu'), None):
        assert (x @ w).dtype == torch.float32


def test_cached_views_spare_the_teacher_and_follow_the_buffer():
    torch.manual_seed(0)
    alg = MODELS.build(tiny_algorithm_cfg(kd=dict(cached_views=1)))
    ow = build_optim(alg)
    _step(alg, ow, distill=False, adv=False)
    _step(alg, ow, distill=False, adv=False)  # 16 entries, buffer full
    seen = []
    handle = alg.teacher.register_forward_hook(
        lambda m, i, o: seen.append(i[0].shape[0]))
    for _ in range(12):
        out = _step(alg, ow, synth=False)
        assert torch.isfinite(out['loss_kd'])
    # one view per entry: at most 16 teacher images for 12 × 8 draws
    assert 0 < sum(seen) <= 16
    cache = alg.replay.view_cache
    assert cache.n_served == 96 and cache.n_computed == sum(seen)
    # a synthesis round overwrites 8 entries: their views are dropped
    valid_before = int(cache.valid[:16].sum())
    handle.remove()
    _step(alg, ow, distill=False, adv=False)
    assert int(cache.valid[:16].sum()) <= valid_before
    assert int(cache.valid[:16].sum()) <= 8
    # the cached target is the teacher's output on the view served
    inputs = alg._step_inputs()

    def teacher(views):
        return alg.kd_step.teacher_logits(inputs, alg.normalize(views))

    x, logits, _, _ = alg.replay.draw_views(4, alg.device, alg.augment,
                                            teacher)
    assert torch.allclose(logits, teacher(x), atol=1e-4)
    assert 'view_cache_hit' in alg.replay.diagnostics()


def test_cached_views_off_by_default_and_checked(tiny_alg):
    assert tiny_alg.replay.view_cache is None
    with pytest.raises(ValueError, match='cached_views'):
        MODELS.build(tiny_algorithm_cfg(kd=dict(cached_views=-1)))


def test_kd_mix_makes_the_teacher_label_the_mixture():
    torch.manual_seed(0)
    alg = MODELS.build(tiny_algorithm_cfg(
        kd=dict(mix=dict(mode='mixup', alpha=1.0))))
    ow = build_optim(alg)
    _step(alg, ow, distill=False, adv=False)
    mix, made = alg.kd_step.mix, []

    def recording_mix(views):
        out = mix(views)
        made.append((views.detach().clone(), out[0].detach().clone()))
        return out

    alg.kd_step.mix = recording_mix
    seen = {'teacher': [], 'student': []}
    hooks = [
        m.register_forward_hook(
            lambda mod, i, o, k=k: seen[k].append(i[0].detach().clone()))
        for k, m in (('teacher', alg.teacher), ('student', alg.student))
    ]
    out = _step(alg, ow, synth=False)
    for h in hooks:
        h.remove()
    assert torch.isfinite(out['loss_kd'])
    (views, mixed), = made
    assert not torch.allclose(mixed, views)  # something was mixed
    # teacher and student both see the normalised mixture
    for k in ('teacher', 'student'):
        assert torch.allclose(seen[k][0], alg.normalize(mixed), atol=1e-6), k


def test_kd_mix_checked():
    with pytest.raises(ValueError, match='mix needs cached_views=0'):
        MODELS.build(tiny_algorithm_cfg(
            kd=dict(cached_views=2, mix=dict(mode='mixup'))))
    with pytest.raises(KeyError, match='kd.mix'):
        MODELS.build(tiny_algorithm_cfg(kd=dict(mix=dict(beta=1.0))))
    with pytest.raises(ValueError, match='kd.mix.mode'):
        MODELS.build(tiny_algorithm_cfg(kd=dict(mix=dict(mode='blend'))))
