# The NYUv2 student of configs/ssdkd/ssdkd_deeplabv3_r50_mbv2_nyuv2.py as a
# plain mmseg config: DeepLabV3 with mmseg's dilated MobileNetV2 (output
# stride 8), no auxiliary head, 13 classes, random initialisation. Use it to
# test an extracted student (tools/extract_student.py) with plain mmseg
# tools, or to train the real-data reference student.
_base_ = './deeplabv3_r50-d8_4xb4-20k_nyuv2-13cls.py'
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
