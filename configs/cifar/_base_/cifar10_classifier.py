# The CIFAR-10 classifier the configs of configs/cifar/ share: mmpretrain's
# CIFAR-10 dataset, schedule and runtime, global average pooling and one
# linear layer; each config adds its backbone and the head's in_channels.
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/schedules/cifar10_bs128.py',
    'mmpretrain::_base_/default_runtime.py'
]
custom_imports = dict(imports=['ssdkd_mm'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
