# The NYUv2 teacher of the data-free KD benchmark: DeepLabV3-ResNet-50
# (mmseg's ResNetV1c-50-D8, ImageNet-initialised as usual for a teacher),
# 13 classes, trained with mmseg on the real NYUv2 training set:
#   python tools/train.py \
#       configs/nyuv2/deeplabv3_r50-d8_4xb4-20k_nyuv2-13cls.py
# The published benchmark teacher (0.517 mIoU, DFAD / Fast-DFKD) is a
# torchvision-style DeepLabV3 whose head has an extra 1×1 projection that
# mmseg's ASPPHead lacks: its weights do not map onto this model, so train
# the teacher with this config (or bring your own mmseg checkpoint).
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py', './_base_/nyuv2.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]
data_preprocessor = dict(
    mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5],
    size=(128, 128))
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=13),
    auxiliary_head=dict(num_classes=13))
