# WRN-16-1 (Zagoruyko & Komodakis) for CIFAR-10, as in the data-free KD
# benchmark (CMI / Fast-DFKD / NAYER). Trains with mmpretrain's CIFAR-10
# recipe:
#   python tools/train.py configs/cifar/wrn16-1_cifar10.py
# Teachers and students of configs/ssdkd/ name it by cfg_path
# ('ssdkd_mm::cifar/wrn16-1_cifar10.py'); for CIFAR-100 set
# head.num_classes=100. Weights of the community checkpoints load after
# tools/convert_teacher.py SRC DST --arch wrn16_1.
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/schedules/cifar10_bs128.py',
    'mmpretrain::_base_/default_runtime.py'
]
custom_imports = dict(imports=['ssdkd_mm'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='WideResNet_CIFAR', depth=16, widen_factor=1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
