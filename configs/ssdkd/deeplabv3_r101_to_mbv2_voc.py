# SSD-KD, data-free: DeepLabV3-ResNet-101-D8 (teacher, mmseg model zoo) →
# DeepLabV3-MobileNetV2-D8 (student, from scratch) on PASCAL VOC 2012.
# Training reads NO real image; VOC val is read only to evaluate, with mmseg's
# own PascalVOCDataset, test pipeline and IoUMetric.
#
# 1. Teacher weights (mmseg metafile `deeplabv3_r101-d8_4xb4-20k_voc12aug-512x512`,
#    78.70 mIoU), saved under checkpoints/:
#    https://download.openmmlab.com/mmsegmentation/v0.5/deeplabv3/deeplabv3_r101-d8_512x512_20k_voc12aug/deeplabv3_r101-d8_512x512_20k_voc12aug_20200617_010932-8d13832f.pth
# 2. VOC 2012 val in data/VOCdevkit/VOC2012 (JPEGImages, SegmentationClass,
#    ImageSets/Segmentation/val.txt); set `val_dataloader.dataset.data_root`
#    (and test_dataloader) to put it elsewhere.
# 3. python tools/train.py configs/ssdkd/deeplabv3_r101_to_mbv2_voc.py
#    (multi-GPU: bash tools/dist_train.sh configs/ssdkd/deeplabv3_r101_to_mbv2_voc.py 8)
#
# The student starts from random weights: an ImageNet-pretrained backbone
# would bring real data back in. To opt in deliberately, set
# `model.architecture.backbone.init_cfg=dict(type='Pretrained',
# checkpoint='mmcls://mobilenet_v2')`.
_base_ = [
    'mmseg::_base_/datasets/pascal_voc12_aug.py',
    './_base_/ssdkd_seg.py',
]
# 50 warm-up rounds, 40k student steps, a synthesis round every 20: the
# defaults of ssdkd_seg.py. Normalisation and 512 crop from the teacher's
# config; the generator makes random-crop-sized 256 images.
img_size = 256
model = dict(
    teacher=dict(cfg_path='mmseg::deeplabv3/'
                 'deeplabv3_r101-d8_4xb4-20k_voc12aug-512x512.py'),
    architecture=dict(cfg_path='ssdkd_mm::voc/'
                      'deeplabv3_mbv2-d8_4xb4-20k_voc12aug-512x512.py'),
    teacher_ckpt='checkpoints/deeplabv3_r101-d8_512x512_20k_voc12aug_'
    '20200617_010932-8d13832f.pth',
    replay_buffer=dict(
        capacity=1000,  # ~10 % of the 10,582 VOC-aug training images
        # large buffers: keep them in page-locked host memory instead
        # storage_device='cpu', pin_memory=True,
    ))
