# The student of configs/ssdkd/deeplabv3_r101_to_mbv2_voc.py as a plain mmseg
# config: DeepLabV3 with mmseg's dilated MobileNetV2 (output stride 8), no
# auxiliary head, on PASCAL VOC 2012 (aug). Use it
#   * to evaluate or run a student extracted with tools/extract_student.py in
#     plain mmseg tools (tools/test.py, mmseg.apis.init_model/inference_model);
#   * to train the real-data reference student (ImageNet init off, like the
#     data-free one).
# Keep `model` in sync with `student_model` of the SSD-KD config (a test
# checks that they are equal).
_base_ = 'mmseg::deeplabv3/deeplabv3_r101-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(
    pretrained=None,
    auxiliary_head=None,
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        widen_factor=1.,
        strides=(1, 2, 2, 1, 1, 1, 1),
        dilations=(1, 1, 1, 2, 2, 4, 4),
        out_indices=(1, 2, 4, 6),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=None),
    decode_head=dict(in_channels=320))
