# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The teacher-student pairs the race (and the grid) can run on.

``readme``: the README's pair, ResNet-34 -> ResNet-18 at base width 16 on
Fashion-MNIST. ``small``: the same pair at half width with a stride-2 first
stage and the generators at half width (configs ``*_fmnist_small.py``),
~14x fewer multiply-adds per image, for CPUs too slow to race the README's
pair (on a 2-core AVX2 machine SSD-KD reached only 57 % of the teacher in
300 s there). Everything else (buffer, φ, δ, inversion, KD, schedules,
precision) is the README pair's; each testbed has its own teacher cache.
"""
from typing import Dict

from .methods import METHODS, MMRAZOR_CFGS

TESTBEDS: Dict[str, Dict] = {
    'readme': dict(
        pair='fmnist-resnet34-resnet18: Fashion-MNIST, ResNet-34 (base 16) '
        'teacher trained on the real train split -> ResNet-18 (base 16) '
        'student, data-free (the README\'s pair)',
        teacher_cfg='fashion_mnist/resnet34_fmnist_teacher.py',
        ssdkd_cfg='ssdkd/ssdkd_resnet34_resnet18_fmnist.py',
        mmrazor_cfgs=dict(MMRAZOR_CFGS),
        teacher_dir='work_dirs/demo/teacher'),
    'small': dict(
        pair='fmnist-resnet34-resnet18-small: Fashion-MNIST, ResNet-34 '
        '(base 8, stride-2 first stage) teacher trained on the real train '
        'split -> ResNet-18 (base 8, stride-2 first stage) student, '
        'generators at half width, data-free (the README\'s pair, ~14x '
        'fewer multiply-adds per image)',
        teacher_cfg='fashion_mnist/resnet34_fmnist_small_teacher.py',
        ssdkd_cfg='ssdkd/ssdkd_resnet34_resnet18_fmnist_small.py',
        mmrazor_cfgs={
            k: v.replace('_fmnist.py', '_fmnist_small.py')
            for k, v in MMRAZOR_CFGS.items()
        },
        teacher_dir='work_dirs/race_small/teacher'),
}
DEFAULT = 'readme'


def get_testbed(name: str) -> Dict:
    """The testbed ``name`` (with its ``name``)."""
    if name not in TESTBEDS:
        raise ValueError(f'unknown testbed {name!r}; choose from '
                         f'{sorted(TESTBEDS)}')
    return dict(TESTBEDS[name], name=name)


def method_config(method: str, testbed: str = DEFAULT) -> str:
    """The shipped config (relative to configs/) that ``method`` runs from
    on ``testbed``: the testbed's SSD-KD config for the SSD-KD family (the
    method's switches are applied to it), its own mmrazor config else."""
    tb = get_testbed(testbed)
    m = METHODS[method]
    if m['family'] == 'ssdkd':
        return tb['ssdkd_cfg']
    name = next((k for k, v in MMRAZOR_CFGS.items() if v == m['config']),
                None)
    if name is None:  # a config the testbeds do not know: only the README's
        if testbed != DEFAULT:
            raise ValueError(f'{method!r} has no config on the {testbed!r} '
                             'testbed')
        return m['config']
    return tb['mmrazor_cfgs'][name]
