# The race's "small" testbed (docs/benchmarks.md, the race): the README's
# ResNet-34 -> ResNet-18 pair (./resnet_cifar_fmnist.py) at half the width
# (base 8 instead of 16) and with a stride-2 first stage (feature maps
# 14/7/4/2 instead of 28/14/7/4): the same depths, blocks and layer names
# (ZSKT's recorders, e.g. backbone.layer3.5.relu, still apply), ~14x fewer
# multiply-adds per image (teacher 4.2 M instead of 59.0 M, student 2.0 M
# instead of 28.8 M), so that a slow 2-core CPU can race many runs.
# Standalone (a config may inherit it next to ./resnet_cifar_fmnist.py).
resnet34_fmnist_small = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=34,
        in_channels=1,
        stem_channels=8,
        base_channels=8,
        strides=(2, 2, 2, 2)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
resnet18_fmnist_small = dict(
    resnet34_fmnist_small,
    backbone=dict(resnet34_fmnist_small['backbone'], depth=18))
