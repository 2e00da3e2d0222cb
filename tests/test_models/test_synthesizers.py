"""The image sources of SSD-KD (ssdkd_mm/models/synthesis/): the registry,
``type=``, the explicit inputs, and the noise baseline (tested here only)."""
import pytest
import torch
from conftest import build_optim, tiny_algorithm_cfg
from mmrazor.registry import MODELS

from ssdkd_mm.experiments import methods
from ssdkd_mm.models.synthesis import (BaseSynthesizer, InversionSynthesizer,
                                       NoiseSynthesizer, SynthesisInputs)
from ssdkd_mm.registry import SYNTHESIZERS
from ssdkd_mm.utils.modules import unwrap


def _noise_cfg(**inversion):
    cfg = tiny_algorithm_cfg()
    cfg['inversion'] = dict(type='NoiseSynthesizer', **inversion)
    return cfg


def _step(alg, ow, synth=True, distill=True, adv=False):
    alg.synthesis_due, alg.distill_due, alg.adversarial = synth, distill, adv
    return alg.train_step(None, ow)


def test_registry_builds_the_variants_by_type():
    assert isinstance(SYNTHESIZERS.build(dict(type='InversionSynthesizer',
                                              g_steps=3)),
                      InversionSynthesizer)
    noise = SYNTHESIZERS.build(dict(type='NoiseSynthesizer'))
    assert isinstance(noise, BaseSynthesizer) and not noise.feeds_replay
    assert InversionSynthesizer.feeds_replay


def test_model_inversion_type_defaults_to_the_inversion_round():
    alg = MODELS.build(tiny_algorithm_cfg())
    assert type(alg.synthesizer) is InversionSynthesizer
    with pytest.raises(KeyError, match="inversion.type 'Bogus'"):
        MODELS.build(tiny_algorithm_cfg(inversion=dict(type='Bogus')))
    # the chosen type's own keys are checked, with the section named
    with pytest.raises(KeyError, match=r"\['g_steps'\] in inversion"):
        MODELS.build(_noise_cfg(g_steps=2))


def test_inversion_round_takes_explicit_inputs():
    """No algorithm involved: models, φ, task and guard are given."""
    torch.manual_seed(0)
    alg = MODELS.build(tiny_algorithm_cfg())
    ow = build_optim(alg)
    syn = InversionSynthesizer(g_steps=1, synth_batch_size=4)
    inputs = SynthesisInputs(
        teacher=alg.teacher, student=alg.student,
        generator=unwrap(alg.generator), normalize=alg.normalize,
        task=alg.task, augment=alg.augment, modulating=alg.modulating,
        num_classes=alg.num_classes, device=alg.device, adversarial=False,
        guard=alg.guard)
    out = syn.synthesize(inputs, ow['generator'])
    x = out['images']
    assert x.shape == (4, *alg.generator.img_shape)
    assert 0 <= x.min() and x.max() <= 1 and not x.requires_grad
    assert set(out['log']) == {'loss_bn', 'loss_oh', 'loss_adv'}
    # its BN hooks are its own; the state carries the BN EMA
    assert syn.bn_loss.is_attached_to(alg.teacher)
    state = syn.state_dict()
    other = InversionSynthesizer()
    other.load_state_dict(state)
    assert all(torch.equal(a, b) for ea, eb in zip(
        syn.bn_loss.ema, other.bn_loss.ema) for a, b in zip(ea, eb))
    syn.detach()
    assert not syn.bn_loss.is_attached_to(alg.teacher)


def test_noise_baseline_feeds_the_student_step_not_the_replay():
    torch.manual_seed(0)
    noise = MODELS.build(_noise_cfg())
    assert isinstance(noise.synthesizer, NoiseSynthesizer)
    gen = [p.clone() for p in noise.generator.parameters()]
    out = _step(noise, build_optim(noise))
    assert 'loss_kd' in out and 'loss_bn' not in out
    assert len(noise.buffer) == 0 and noise.rounds == 0
    assert noise.kd_steps == 1
    assert all(torch.equal(a, b)
               for a, b in zip(gen, noise.generator.parameters()))
    x = noise.synthesizer.draw_inputs(5, (1, 4, 4), torch.device('cpu'))
    assert x.shape == (5, 1, 4, 4)


def test_old_source_noise_spelling_maps_to_the_noise_variant():
    old = MODELS.build(tiny_algorithm_cfg(
        inversion=dict(source='noise', g_steps=5)))
    assert isinstance(old.synthesizer, NoiseSynthesizer)
    gen = MODELS.build(tiny_algorithm_cfg(
        inversion=dict(source='generator', g_steps=1)))
    assert type(gen.synthesizer) is InversionSynthesizer
    with pytest.raises(ValueError, match='inversion.type'):
        MODELS.build(tiny_algorithm_cfg(inversion=dict(source='gan')))


def test_noise_input_switch_replaces_the_whole_image_source():
    from mmengine.config import Config
    cfg = Config(dict(model=tiny_algorithm_cfg(
        inversion=dict(g_steps=2, synth_batch_size=8))))
    cfg.merge_from_dict(methods.NOISE_INPUT)
    assert cfg.model.inversion == dict(type='NoiseSynthesizer')
    assert isinstance(MODELS.build(cfg.model).synthesizer, NoiseSynthesizer)
