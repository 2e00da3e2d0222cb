# Narrow CIFAR-style ResNets for 1×28×28 Fashion-MNIST, built from
# mmpretrain's own classes: the ResNet-34 → ResNet-18 pair of the paper at
# 1/4 of the CIFAR width, so that a 2-core CPU trains and distills them in
# minutes. Teacher and student configs pick one with `model = _base_.<name>`.
resnet34_fmnist = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=34,
        in_channels=1,
        stem_channels=16,
        base_channels=16),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
resnet18_fmnist = dict(
    resnet34_fmnist, backbone=dict(resnet34_fmnist['backbone'], depth=18))
