# VGG-11 with BN for CIFAR-10, as in the data-free KD benchmark (CMI /
# Fast-DFKD / NAYER): five conv stages, max-pooling after the first three,
# global average pooling, one linear layer. Trains with mmpretrain's
# CIFAR-10 recipe:
#   python tools/train.py configs/cifar/vgg11-bn_cifar10.py
# Teachers of configs/ssdkd/ name it by cfg_path
# ('ssdkd_mm::cifar/vgg11-bn_cifar10.py'); for CIFAR-100 set
# head.num_classes=100. Weights of the community checkpoints load after
# tools/convert_teacher.py SRC DST --arch vgg11.
_base_ = ['./_base_/cifar10_classifier.py']
model = dict(
    backbone=dict(type='VGG_CIFAR', depth=11),
    head=dict(in_channels=512))
