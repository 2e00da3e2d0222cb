# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""How many images the teacher's training set holds, from its dataset config
(the replay buffer is sized at 10 % of it)."""
from typing import Optional

__all__ = ['TRAIN_SET_SIZES', 'train_set_size']


def _type_name(cfg) -> str:
    t = (cfg or {}).get('type', '')
    return t.split('.')[-1] if isinstance(t, str) else getattr(
        t, '__name__', '')


#: Training-set sizes of the usual datasets (dataset ``type`` without a
#: scope): the buffer holds ``BUFFER_FRACTION`` of it (the paper: ≈ 10 %).
TRAIN_SET_SIZES = {
    'CIFAR10': 50000,
    'CIFAR100': 50000,
    'MNIST': 60000,
    'FashionMNIST': 60000,
    'SSDKDFashionMNIST': 60000,
    'ImageNet': 1281167,
    'CUB': 5994,
    'StanfordCars': 8144,
    'ADE20KDataset': 20210,
    'CityscapesDataset': 2975,
    'PascalVOCDataset': 1464,  # mmseg's pascal_voc12.py (train.txt)
    'NYUv2Dataset': 795,
}
#: Sets named by ``ann_file`` whose size differs from the type's default.
_ANN_FILE_SIZES = {('PascalVOCDataset', 'aug'): 10582}


def train_set_size(ds: Optional[dict]) -> Optional[int]:
    """Images in the training set ``ds`` (a ConcatDataset's members
    summed, a Pascal VOC augmented set counted once), or None."""
    if not isinstance(ds, dict):
        return None
    members = ds.get('_members') or [ds]
    name = _type_name(members[0])
    for m in members:  # mmseg's aug base: train.txt + aug.txt (a superset)
        for (kind, key), size in _ANN_FILE_SIZES.items():
            if _type_name(m) == kind and key in str(m.get('ann_file', '')):
                return size
    sizes = [TRAIN_SET_SIZES.get(_type_name(m)) for m in members]
    if name and all(s is not None for s in sizes):
        return sum(sizes)
    return None
