# SSD-KD, data-free: ResNet-34 → ResNet-18 on CIFAR-10 (the paper's first
# pair): mmpretrain's CIFAR-10 dataset base (val/test only: training reads no
# image), its CIFAR ResNet configs by cfg_path, the data-free base.
#
# Teacher: mmpretrain's ResNet-34 CIFAR-10 checkpoint (metafile top-1 95.34),
# downloaded once by the user on a machine with network:
#   resnet34_b16x8_cifar10_20210528-a8aa36a6.pth
#   (https://download.openmmlab.com/mmclassification/v0/resnet/
#    resnet34_b16x8_cifar10_20210528-a8aa36a6.pth)
# CIFAR-10 itself goes to data/cifar10 (mmpretrain's CIFAR10 layout).
#
#   python tools/train.py configs/ssdkd/ssdkd_resnet34_resnet18_cifar10.py
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    './_base_/ssdkd_cls.py',
]
# 20 warm-up rounds, 20k student steps, a synthesis round every 100 (1/4 of
# Fast-DFKD's 400 steps per round): the defaults of ssdkd_cls.py
model = dict(
    teacher=dict(cfg_path='mmpretrain::resnet/resnet34_8xb16_cifar10.py'),
    architecture=dict(
        cfg_path='mmpretrain::resnet/resnet18_8xb16_cifar10.py'),
    teacher_ckpt='checkpoints/resnet34_b16x8_cifar10_20210528-a8aa36a6.pth')
val_dataloader = dict(batch_size=256)
test_dataloader = dict(batch_size=256)
