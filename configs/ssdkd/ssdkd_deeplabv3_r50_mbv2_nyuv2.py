# SSD-KD, data-free: DeepLabV3-ResNet-50 → DeepLabV3-MobileNetV2 on NYUv2
# (13 classes), the segmentation pair of the paper (DFAD's protocol). The
# paper reports 0.384 mIoU with 16K synthetic samples (teacher 0.517, KD on
# real data 0.380, Fast-10 0.366, DFAD 0.364; DFAD: arXiv 1912.11006, SSD-KD:
# arXiv 2406.07876).
# Training reads no real image; NYUv2 test (654 images, toolkit layout in
# data/NYUv2) is read only to evaluate.
#
# 1. Teacher: train configs/nyuv2/deeplabv3_r50-d8_4xb4-20k_nyuv2-13cls.py
#    with mmseg on NYUv2 (the community's torchvision-layout teacher does not
#    map onto mmseg's DeepLabV3) and save it as
#    checkpoints/deeplabv3_r50_nyuv2_13cls.pth.
# 2. python tools/train.py configs/ssdkd/ssdkd_deeplabv3_r50_mbv2_nyuv2.py
_base_ = [
    '../nyuv2/_base_/nyuv2.py',
    './_base_/ssdkd_seg.py',
]
# the generator makes the 128×128 training crops; 50 warm-up rounds, 40k
# student steps (the defaults of ssdkd_seg.py)
img_size = 128
model = dict(
    teacher=dict(
        cfg_path='ssdkd_mm::nyuv2/deeplabv3_r50-d8_4xb4-20k_nyuv2-13cls.py'),
    architecture=dict(
        cfg_path='ssdkd_mm::nyuv2/deeplabv3_mbv2-d8_4xb4-20k_nyuv2-13cls.py'),
    teacher_ckpt='checkpoints/deeplabv3_r50_nyuv2_13cls.pth',
    # the paper's 16K synthetic samples (NYUv2 has only 795 real training
    # images, so the 10 % rule does not apply); 16,000 × 3 × 128² floats are
    # 3.1 GB: on a small GPU keep them in host memory with
    # storage_device='cpu', pin_memory=True
    replay_buffer=dict(capacity=16000))
val_dataloader = dict(batch_size=1)
