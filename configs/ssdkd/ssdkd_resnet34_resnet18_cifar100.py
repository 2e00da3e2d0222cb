# SSD-KD, data-free: ResNet-34 → ResNet-18 on CIFAR-100. Same recipe as the
# CIFAR-10 config; the data statistics, classes and val set come from
# mmpretrain's CIFAR-100 dataset base.
# mmpretrain ships no ResNet-34 CIFAR-100 checkpoint: train the teacher with
# mmpretrain (resnet34_cifar model, cifar100_bs16 data) or convert your own,
# and point `teacher_ckpt` at it.
_base_ = [
    'mmpretrain::_base_/datasets/cifar100_bs16.py',
    './_base_/ssdkd_cls.py',
]
model = dict(
    # the CIFAR-10 configs with a 100-class head
    teacher=dict(cfg_path='mmpretrain::resnet/resnet34_8xb16_cifar10.py',
                 head=dict(num_classes=100)),
    architecture=dict(
        cfg_path='mmpretrain::resnet/resnet18_8xb16_cifar10.py'),
    teacher_ckpt='checkpoints/resnet34_cifar100_teacher.pth')
val_dataloader = dict(batch_size=256)
test_dataloader = dict(batch_size=256)
