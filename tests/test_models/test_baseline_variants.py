"""DeepInversion, CMI and DFQ as image sources of the algorithm (built by
``model.inversion.type``): what a round feeds (the replay, or fresh batches
per student step for DFQ), the models' modes and gradients afterwards, and
their whole state through the algorithm's one checkpoint entry."""
import pytest
import torch
from conftest import build_optim, tiny_algorithm_cfg
from mmrazor.registry import MODELS

from ssdkd_mm.models.synthesis import (CMISynthesizer,
                                       DeepInversionSynthesizer,
                                       DFQSynthesizer, SynthesisInputs)
from ssdkd_mm.registry import SYNTHESIZERS
from ssdkd_mm.utils.modules import unwrap

TINY = {
    'DeepInversionSynthesizer': dict(iterations=3),
    'CMISynthesizer': dict(iterations=3, nz=16, bank_size=64, n_neg=16,
                           head_dim=8),
    'DFQSynthesizer': dict(iterations=2, nz=16),
}


def _alg(kind, **extra):
    torch.manual_seed(0)
    return MODELS.build(tiny_algorithm_cfg(
        inversion=dict(type=kind, **TINY[kind], **extra)))


def _inputs(alg, adversarial=True):
    """The explicit inputs of a round, as the algorithm builds them."""
    return SynthesisInputs(
        teacher=alg.teacher, student=alg.student,
        generator=unwrap(alg.generator), normalize=alg.normalize,
        task=alg.task, augment=alg.augment, modulating=alg.modulating,
        num_classes=alg.num_classes, device=alg.device,
        adversarial=adversarial, guard=alg.guard)


def _step(alg, ow, synth=True, distill=True, adv=True):
    alg.synthesis_due, alg.distill_due, alg.adversarial = synth, distill, adv
    return alg.train_step(None, ow)


def test_registry_builds_each_variant_by_type():
    for kind, cls in (('DeepInversionSynthesizer', DeepInversionSynthesizer),
                      ('CMISynthesizer', CMISynthesizer),
                      ('DFQSynthesizer', DFQSynthesizer)):
        assert SYNTHESIZERS.get(kind) is cls
        assert isinstance(_alg(kind).synthesizer, cls)
    assert DeepInversionSynthesizer.feeds_replay
    assert CMISynthesizer.feeds_replay
    assert not DFQSynthesizer.feeds_replay
    # its own arguments are checked, the section named
    with pytest.raises(KeyError, match=r"\['g_steps'\] in inversion"):
        _alg('CMISynthesizer', g_steps=2)


@pytest.mark.parametrize('kind', ['DeepInversionSynthesizer',
                                  'CMISynthesizer'])
def test_a_round_feeds_the_replay_and_leaves_the_models_as_found(kind):
    alg = _alg(kind)
    alg.train()
    ow = build_optim(alg)
    teacher = [p.clone() for p in alg.teacher.parameters()]
    out = _step(alg, ow, distill=False)
    assert f"loss_{'deepinv' if 'Deep' in kind else 'cmi'}" in out
    assert len(alg.buffer) == 8 and alg.rounds == 1 and alg.kd_steps == 0
    x = alg.buffer.get(torch.arange(8))
    assert x.shape == (8, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert alg.student.training and alg.generator.training
    assert not alg.teacher.training
    # no gradient left on the student, the teacher untouched
    assert all(p.grad is None for p in alg.student.parameters())
    assert all(torch.equal(a, b)
               for a, b in zip(teacher, alg.teacher.parameters()))
    out = _step(alg, ow, synth=False)
    assert 'loss_kd' in out and alg.kd_steps == 1


def test_deepinversion_competes_with_the_student_only_when_adversarial():
    alg = _alg('DeepInversionSynthesizer', adv=1.0)
    seen = []
    invert = alg.synthesizer.invert

    def spy(teacher, student=None, *a, **k):
        seen.append(student)
        return invert(teacher, student, *a, **k)

    alg.synthesizer.invert = spy
    ow = build_optim(alg)
    _step(alg, ow, distill=False, adv=False)
    _step(alg, ow, distill=False, adv=True)
    assert seen[0] is None and seen[1] is alg.student
    # the round's size is the source's synth_batch_size, the generator's
    # image shape and the algorithm's classes
    assert alg.synthesizer.img_shape == (1, 28, 28)
    assert alg.synthesizer.num_classes == 10 and len(alg.buffer) == 16


def test_dfq_trains_the_generator_per_round_and_feeds_fresh_batches():
    alg = _alg('DFQSynthesizer')
    alg.train()
    ow = build_optim(alg)
    gen0 = [p.clone() for p in alg.generator.parameters()]
    out = _step(alg, ow)  # a round (2 generator steps), then a student step
    assert 'loss_dfq' in out and 'loss_kd' in out
    assert len(alg.buffer) == 0 and alg.rounds == 1 and alg.kd_steps == 1
    gen1 = [p.clone() for p in alg.generator.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(gen0, gen1))
    assert alg.synthesizer.rounds == 1
    # a student step alone: a fresh generator batch, the generator's
    # weights untouched, nothing in the replay
    draws = []
    draw = alg.synthesizer.draw_inputs

    def spy(*a, **k):
        draws.append(draw(*a, **k))
        return draws[-1]

    alg.synthesizer.draw_inputs = spy
    student = [p.clone() for p in alg.student.parameters()]
    _step(alg, ow, synth=False)
    _step(alg, ow, synth=False)
    assert alg.kd_steps == 3 and alg.rounds == 1 and len(alg.buffer) == 0
    assert len(draws) == 2 and not torch.equal(draws[0], draws[1])
    assert draws[0].shape == (8, 1, 28, 28)
    # normalised: the models' input space, not [0, 1]
    assert draws[0].min() < 0
    assert all(torch.equal(a, b)
               for a, b in zip(gen1, alg.generator.parameters()))
    assert any(not torch.equal(a, b)
               for a, b in zip(student, alg.student.parameters()))


@pytest.mark.parametrize('kind', ['CMISynthesizer', 'DFQSynthesizer'])
def test_the_whole_source_state_persists_through_the_algorithm(kind):
    alg = _alg(kind)
    ow = build_optim(alg)
    _step(alg, ow, distill=False)
    _step(alg, ow, distill=False)
    state = alg.ssdkd_state_dict()
    src = state['synthesizer']
    assert src['rounds'] == 2
    other = _alg(kind)
    other.load_ssdkd_state_dict(state)
    # before the next round there is no generator bound: kept pending,
    # and a checkpoint taken now still carries it
    assert other.ssdkd_state_dict()['synthesizer']['rounds'] == 2
    other.synthesizer.synthesize(_inputs(other), None)
    syn = other.synthesizer
    assert syn.rounds == 3 and syn._pending is None
    if kind == 'CMISynthesizer':
        assert syn.bank.n_added == 3 * 8 > alg.synthesizer.bank.n_added
        assert torch.equal(syn.bank.data[:16], alg.synthesizer.bank.data[:16])
    else:
        step = syn.optimizer.state_dict()['state'][0]['step']
        assert int(step) == 3 * 2  # two restored rounds + this one
        # resumed between rounds: the first student step binds the
        # generator (and the restored optimiser) from its own inputs
        fresh = _alg(kind)
        fresh.load_ssdkd_state_dict(state)
        _step(fresh, build_optim(fresh), synth=False)
        assert fresh.kd_steps == 1 and len(fresh.buffer) == 0
        assert fresh.synthesizer.generator is unwrap(fresh.generator)
        assert fresh.synthesizer._pending is None
        assert int(fresh.synthesizer.optimizer.state_dict()['state'][0][
            'step']) == 2 * 2


def test_nz_must_match_the_generator():
    alg = _alg('CMISynthesizer')
    alg.synthesizer.nz = 32
    with pytest.raises(ValueError, match='inversion.nz'):
        alg.synthesizer.synthesize(_inputs(alg), None)


@pytest.mark.parametrize('kind', ['DeepInversionSynthesizer',
                                  'CMISynthesizer', 'DFQSynthesizer'])
def test_a_round_at_the_configs_bf16_precision(kind):
    """The Fashion-MNIST config runs its forwards in bf16: rounds give fp32
    images (and CMI banks fp32 features). On a CPU without bf16 kernels
    precision.autocast runs fp32 and this checks the fp32 path."""
    alg = _alg(kind, autocast='bfloat16')
    ow = build_optim(alg)
    _step(alg, ow)
    _step(alg, ow)
    if kind == 'DFQSynthesizer':
        assert alg.synthesizer.rounds == 2
        return
    x = alg.buffer.get(torch.arange(16))
    assert x.dtype == torch.float32 and len(alg.buffer) == 16
    if kind == 'CMISynthesizer':
        assert alg.synthesizer.bank.data.dtype == torch.float32
        assert alg.synthesizer.bank.n_added == 16


def test_cmi_features_as_the_harness_picks_them():
    """``feature_layers='auto'`` (the recipe's): a ResNet-34 teacher's four
    stage outputs (datafree_kd.py, --teacher resnet34), every BN of any
    other teacher."""
    from conftest import tiny_classifier

    from ssdkd_mm.models.synthesis.cmi import resnet34_stages
    torch.manual_seed(0)
    alg = MODELS.build(tiny_algorithm_cfg(
        teacher=tiny_classifier(depth=34),
        inversion=dict(type='CMISynthesizer', feature_layers='auto',
                       **TINY['CMISynthesizer'])))
    assert resnet34_stages(alg.teacher) == [
        f'backbone.layer{i}' for i in range(1, 5)]
    assert resnet34_stages(alg.student) is None  # a ResNet-18
    _step(alg, build_optim(alg), distill=False)
    # local + global spatial means of stages of 4, 8, 16, 32 channels
    assert alg.synthesizer.bank.data.shape[1] == 2 * (4 + 8 + 16 + 32)
    other = _alg('CMISynthesizer', feature_layers='auto')  # a ResNet-18
    _step(other, build_optim(other), distill=False)
    n_bn = sum(m.num_features for m in other.teacher.modules()
               if isinstance(m, torch.nn.BatchNorm2d))
    assert other.synthesizer.bank.data.shape[1] == 2 * n_bn
