# SSD-KD, data-free, on the race's "small" testbed (docs/benchmarks.md, the
# race): the README's config (./ssdkd_resnet34_resnet18_fmnist.py) with only
# the sizes changed: teacher and student at half width with a stride-2 first
# stage (../fashion_mnist/_base_/models/resnet_cifar_fmnist_small.py) and
# the generator at half width (ngf 16 instead of 32). Buffer, φ, δ,
# inversion, KD, schedule, precision and hooks are the README's.
#
#   python tools/train.py configs/ssdkd/ssdkd_resnet34_resnet18_fmnist_small.py \
#       --cfg-options model.teacher_ckpt=work_dirs/race_small/teacher/teacher.pth
_base_ = [
    './ssdkd_resnet34_resnet18_fmnist.py',
    '../fashion_mnist/_base_/models/resnet_cifar_fmnist_small.py',
]

model = dict(
    architecture=dict(_delete_=True, **_base_.resnet18_fmnist_small),
    teacher=dict(_delete_=True, **_base_.resnet34_fmnist_small),
    teacher_ckpt='work_dirs/race_small/teacher/teacher.pth',
    generator=dict(ngf=16))
