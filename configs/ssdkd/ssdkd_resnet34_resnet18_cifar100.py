# SSD-KD, data-free: ResNet-34 → ResNet-18 on CIFAR-100. Same recipe as the
# CIFAR-10 config; only the data statistics, classes and val set differ.
# mmpretrain ships no ResNet-34 CIFAR-100 checkpoint: train the teacher with
# mmpretrain (resnet34_cifar model, cifar100_bs16 data) or convert your own,
# and point `teacher_ckpt` at it.
_base_ = ['./ssdkd_resnet34_resnet18_cifar10.py']

teacher_ckpt = 'checkpoints/resnet34_cifar100_teacher.pth'
num_classes = 100
# = mmpretrain::_base_/datasets/cifar100_bs16.py
cifar100_mean = [129.304, 124.070, 112.434]
cifar100_std = [68.170, 65.392, 70.418]

model = dict(
    teacher_ckpt=teacher_ckpt,
    data_preprocessor=dict(
        num_classes=num_classes, mean=cifar100_mean, std=cifar100_std),
    architecture=dict(head=dict(num_classes=num_classes)),
    teacher=dict(head=dict(num_classes=num_classes)))
val_dataloader = dict(
    dataset=dict(type='CIFAR100', data_root='data/cifar100'))
test_dataloader = val_dataloader
