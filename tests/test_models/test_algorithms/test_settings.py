"""settings (models/algorithms/settings.py): config dicts → component
arguments, with unknown and moved keys named."""
import pytest

from ssdkd_mm.models.algorithms import settings
from ssdkd_mm.models.algorithms.student_step import StudentStep
from ssdkd_mm.registry import SYNTHESIZERS


def test_unknown_and_moved_keys_are_named():
    with pytest.raises(KeyError, match=r"\['bogus'\] in kd"):
        settings.build(StudentStep, dict(bogus=1), 'kd')
    with pytest.raises(KeyError, match='kd.is_weight_norm is now '
                       'sampler.is_weight_norm'):
        settings.build(StudentStep, dict(is_weight_norm='max'), 'kd')


def test_a_components_range_error_names_its_section():
    with pytest.raises(ValueError, match=r'^kd\.tau must be > 0'):
        settings.build(StudentStep, dict(tau=0), 'kd')
    assert settings.build(StudentStep, dict(tau=4.0), 'kd').tau == 4.0
    assert settings.default(StudentStep, 'tau') == 20.0


def test_registered_components_are_built_by_type():
    named = settings.build_registered(
        SYNTHESIZERS, dict(type='InversionSynthesizer', _scope_='mmrazor'),
        'inversion', 'NoiseSynthesizer')
    assert type(named).__name__ == 'InversionSynthesizer'
    default = settings.build_registered(SYNTHESIZERS, dict(g_steps=3),
                                        'inversion', 'InversionSynthesizer')
    assert default.g_steps == 3
    with pytest.raises(ValueError, match=r'^inversion\.g_steps'):
        settings.build_registered(SYNTHESIZERS, dict(g_steps=0),
                                  'inversion', 'InversionSynthesizer')
