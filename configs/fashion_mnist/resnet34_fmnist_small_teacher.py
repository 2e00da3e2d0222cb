# Teacher of the race's "small" testbed: the README teacher's recipe
# (./resnet34_fmnist_teacher.py: real 60k train split, 4 epochs, one-cycle
# SGD) on the half-width, stride-2 ResNet-34 of
# ./_base_/models/resnet_cifar_fmnist_small.py (0.34 M params).
#
#   python tools/train.py configs/fashion_mnist/resnet34_fmnist_small_teacher.py \
#       --work-dir work_dirs/race_small_teacher
_base_ = [
    './resnet34_fmnist_teacher.py',
    './_base_/models/resnet_cifar_fmnist_small.py',
]

model = dict(_delete_=True, **_base_.resnet34_fmnist_small)
