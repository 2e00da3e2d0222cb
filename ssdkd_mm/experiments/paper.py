# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The paper's CIFAR benchmark as data: the five teacher → student pairs,
their configs, the community teacher files and the published numbers they
are compared against (the READMEs of github.com/zju-vipa/CMI and
github.com/zju-vipa/Fast-Datafree; top-1 %). ``tools/reproduce_paper.py``
and the tests read it; nothing else spells the pairs out again."""
from collections import OrderedDict
from typing import Dict

DATASETS = ('cifar10', 'cifar100')

#: pair name -> teacher / student architecture (the community's names,
#: those of ssdkd_mm.models.convert.ARCHS) and its config stem
PAIRS: 'OrderedDict[str, Dict[str, str]]' = OrderedDict(
    resnet34_resnet18=dict(teacher='resnet34', student='resnet18',
                           label='ResNet-34 → ResNet-18'),
    vgg11_resnet18=dict(teacher='vgg11', student='resnet18',
                        label='VGG-11 → ResNet-18'),
    wrn40_2_wrn16_1=dict(teacher='wrn40_2', student='wrn16_1',
                         label='WRN-40-2 → WRN-16-1'),
    wrn40_2_wrn40_1=dict(teacher='wrn40_2', student='wrn40_1',
                         label='WRN-40-2 → WRN-40-1'),
    wrn40_2_wrn16_2=dict(teacher='wrn40_2', student='wrn16_2',
                         label='WRN-40-2 → WRN-16-2'),
)

_ROWS = ('teacher', 'student_real', 'fast2', 'fast5', 'fast10')
#: dataset -> row -> the five pairs' published top-1, in PAIRS order
_PUBLISHED = {
    'cifar10': dict(
        teacher=(95.70, 92.25, 94.87, 94.87, 94.87),
        student_real=(95.20, 95.20, 91.12, 93.94, 93.95),
        fast2=(92.62, 84.67, 88.36, 89.56, 89.68),
        fast5=(93.63, 89.94, 88.90, 92.04, 91.96),
        fast10=(94.05, 90.53, 89.29, 92.51, 92.45)),
    'cifar100': dict(
        teacher=(78.05, 71.32, 75.83, 75.83, 75.83),
        student_real=(77.10, 77.10, 65.31, 72.19, 73.56),
        fast2=(69.76, 62.83, 41.77, 53.15, 57.08),
        fast5=(72.82, 65.28, 52.90, 61.80, 63.83),
        fast10=(74.34, 67.44, 54.02, 63.91, 65.12)),
}
#: Fast-DFKD's published hours are synthesis only (its "generation cost"),
#: not overall training time; SSD-KD's per-pair numbers were not recovered.
PUBLISHED_SOURCE = ('Fast-DFKD README (zju-vipa/Fast-Datafree), teachers of '
                    'CMI / Fast-DFKD; SSD-KD per-pair numbers not recovered')


def published(dataset: str, pair: str) -> Dict[str, float]:
    """``row -> top-1`` published for ``pair`` on ``dataset``."""
    i = list(PAIRS).index(pair)
    return {row: _PUBLISHED[dataset][row][i] for row in _ROWS}


def config_name(pair: str, dataset: str) -> str:
    """The SSD-KD config of ``pair`` on ``dataset``, under configs/."""
    return f'ssdkd/ssdkd_{pair}_{dataset}.py'


def teacher_source(dataset: str, arch: str) -> str:
    """The community teacher's file name (CMI / Fast-DFKD's
    ``checkpoints/pretrained/<dataset>_<arch>.pth``)."""
    return f'{dataset}_{arch}.pth'


def teacher_converted(dataset: str, arch: str) -> str:
    """Where the configs expect the converted teacher."""
    return f'checkpoints/{dataset}_{arch}_mmpretrain.pth'


__all__ = [
    'DATASETS', 'PAIRS', 'PUBLISHED_SOURCE', 'config_name', 'published',
    'teacher_converted', 'teacher_source'
]
