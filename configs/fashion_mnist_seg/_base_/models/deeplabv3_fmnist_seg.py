# Small DeepLabV3 models for 64x64 Fashion-MNIST-Seg (output stride 8).
# Measured channel mean/std of the train split (RGB, 0-255): 76.4/47.8.
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[76.36, 75.68, 76.62],
    std=[47.67, 47.95, 47.81],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(64, 64))
# Teacher: DeepLabV3, ResNetV1c-18 at half width (dilated, OS 8).
deeplabv3_r18 = dict(
    _scope_='mmseg',  # so that the SSD-KD config (mmrazor scope) builds it
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        stem_channels=32,
        base_channels=32,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True),
    decode_head=dict(
        type='ASPPHead',
        in_channels=256,
        in_index=3,
        channels=64,
        dilations=(1, 2, 4, 6),
        dropout_ratio=0.1,
        num_classes=11,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# Student: DeepLabV3, MobileNetV2 x0.5 (dilated, OS 8), no pretrained weights.
deeplabv3_mbv2 = dict(
    _scope_='mmseg',  # so that the SSD-KD config (mmrazor scope) builds it
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='MobileNetV2',
        widen_factor=0.5,
        strides=(1, 2, 2, 1, 1, 1, 1),
        dilations=(1, 1, 1, 2, 2, 4, 4),
        out_indices=(1, 2, 4, 6),
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='ASPPHead',
        in_channels=160,
        in_index=3,
        channels=32,
        dilations=(1, 2, 4, 6),
        dropout_ratio=0.1,
        num_classes=11,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# Student: DeepLabV3, ResNetV1c-18 at quarter width (0.87 M; dilated, OS 8),
# no pretrained weights. The same family as the teacher at a quarter of its
# width; on a CPU its training step costs 58 ms against MobileNetV2 x0.5's
# 136 ms (batch 32, 64x64, bf16, channels-last, 2 cores; measured), whose
# depthwise convolutions are slow to back-propagate there.
deeplabv3_r18q = dict(
    deeplabv3_r18,
    backbone=dict(
        deeplabv3_r18['backbone'], stem_channels=16, base_channels=16),
    decode_head=dict(
        deeplabv3_r18['decode_head'], in_channels=128, channels=32))
