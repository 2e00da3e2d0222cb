# WRN-16-1 (Zagoruyko & Komodakis) for CIFAR-10, as in the data-free KD
# benchmark (CMI / Fast-DFKD / NAYER). Trains with mmpretrain's CIFAR-10
# recipe:
#   python tools/train.py configs/cifar/wrn16-1_cifar10.py
# Teachers and students of configs/ssdkd/ name it by cfg_path
# ('ssdkd_mm::cifar/wrn16-1_cifar10.py'); for CIFAR-100 set
# head.num_classes=100. Weights of the community checkpoints load after
# tools/convert_teacher.py SRC DST --arch wrn16_1.
_base_ = ['./_base_/cifar10_classifier.py']
model = dict(
    backbone=dict(type='WideResNet_CIFAR', depth=16, widen_factor=1),
    head=dict(in_channels=64))
