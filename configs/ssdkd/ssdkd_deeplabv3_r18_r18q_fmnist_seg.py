# SSD-KD, data-free, semantic segmentation: DeepLabV3-ResNetV1c-18/2 (teacher,
# 3.5 M) → DeepLabV3-ResNetV1c-18/4 (student, 0.87 M) on Fashion-MNIST-Seg.
# The benchmark's default (`tools/demo.py --task seg`): everything but the
# student and its learning rate is the MobileNetV2 config's.
#
#   python tools/prepare_fashion_mnist_seg.py
#   python tools/train.py configs/fashion_mnist_seg/deeplabv3_r18_fmnist_seg_teacher.py \
#       --work-dir work_dirs/fmnist_seg_teacher
#   python tools/train.py configs/ssdkd/ssdkd_deeplabv3_r18_r18q_fmnist_seg.py \
#       --cfg-options model.teacher_ckpt=work_dirs/fmnist_seg_teacher/iter_2000.pth
_base_ = ['./ssdkd_deeplabv3_r18_mbv2_fmnist_seg.py']

model = dict(architecture=dict(_base_.deeplabv3_r18q, _delete_=True))
# 15 min, seed 0: 44.33 mIoU at lr 1e-2 (measured)
optim_wrapper = dict(architecture=dict(optimizer=dict(lr=1e-2)))
