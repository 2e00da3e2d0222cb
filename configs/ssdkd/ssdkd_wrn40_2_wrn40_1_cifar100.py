# SSD-KD, data-free: WRN-40-2 → WRN-40-1 on CIFAR-100 (the paper's
# fourth pair). Training reads no image; CIFAR-100 test is read only to
# evaluate (mmpretrain's dataset base; the data under data/cifar100).
#
# Teacher: the benchmark's WRN-40-2 (CMI / Fast-DFKD checkpoint,
# 75.83 % top-1), converted once:
#   python tools/convert_teacher.py \
#       checkpoints/pretrained/cifar100_wrn40_2.pth \
#       checkpoints/cifar100_wrn40_2_mmpretrain.pth --arch wrn40_2
# Published on this pair: student on real data 72.19; Fast-2 / 5 / 10
# 53.15 / 61.80 / 63.91 (Fast-DFKD README).
#
#   python tools/train.py configs/ssdkd/ssdkd_wrn40_2_wrn40_1_cifar100.py
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
        cfg_path='ssdkd_mm::cifar/wrn40-2_cifar10.py',
        head=dict(num_classes=100)),
    architecture=dict(cfg_path='ssdkd_mm::cifar/wrn40-1_cifar10.py'),
    teacher_ckpt='checkpoints/cifar100_wrn40_2_mmpretrain.pth',
    # this teacher's loss weights in Fast-DFKD's scripts/fast_cifar.sh
    # (ssdkd_mm/experiments/recipes.py PAIR_WEIGHTS)
    inversion=dict(bn_weight=10.0, oh_weight=0.4, adv_weight=1.1))
val_dataloader = dict(batch_size=256)
test_dataloader = dict(batch_size=256)
