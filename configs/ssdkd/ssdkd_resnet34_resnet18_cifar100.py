# SSD-KD, data-free: ResNet-34 → ResNet-18 on CIFAR-100 (the paper's
# first pair). Training reads no image; CIFAR-100 test is read only to
# evaluate (mmpretrain's dataset base; the data under data/cifar100).
#
# Teacher: the benchmark's ResNet-34 (CMI / Fast-DFKD checkpoint,
# 78.05 % top-1), converted once:
#   python tools/convert_teacher.py \
#       checkpoints/pretrained/cifar100_resnet34.pth \
#       checkpoints/cifar100_resnet34_mmpretrain.pth --arch resnet34
# Published on this pair: student on real data 77.10; Fast-2 / 5 / 10
# 69.76 / 72.82 / 74.34 (Fast-DFKD README).
#
#   python tools/train.py configs/ssdkd/ssdkd_resnet34_resnet18_cifar100.py
#   (Fast-2/5/10 through the same code: add --method fast2|fast5|fast10;
#    all pairs: tools/reproduce_paper.py)
_base_ = [
    'mmpretrain::_base_/datasets/cifar100_bs16.py',
    './_base_/ssdkd_cls.py',
]
# 20 warm-up rounds, 20k student steps, a synthesis round every 100: the
# defaults of ssdkd_cls.py
model = dict(
    teacher=dict(
        cfg_path='mmpretrain::resnet/resnet34_8xb16_cifar10.py',
        head=dict(num_classes=100)),
    architecture=dict(cfg_path='mmpretrain::resnet/resnet18_8xb16_cifar10.py'),
    teacher_ckpt='checkpoints/cifar100_resnet34_mmpretrain.pth',
    # this teacher's loss weights in Fast-DFKD's scripts/fast_cifar.sh
    # (ssdkd_mm/experiments/recipes.py PAIR_WEIGHTS)
    inversion=dict(bn_weight=10.0, oh_weight=0.5, adv_weight=1.33))
val_dataloader = dict(batch_size=256)
test_dataloader = dict(batch_size=256)
