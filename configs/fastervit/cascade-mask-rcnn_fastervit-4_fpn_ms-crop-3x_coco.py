# Cascade Mask R-CNN 3x with FasterViT-4 on COCO (paper: 52.9 box AP); recipe as
# cascade_mask_rcnn_coco.py. Weights: fastervit_4_224_1k.pth.tar converted with
# tools/model_converters/fastervit_to_mmvitplug.py to checkpoints/fastervit-4_in1k.pth.
_base_ = ['./cascade_mask_rcnn_coco.py']

model = dict(
    backbone=dict(
        arch='4',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/fastervit-4_in1k.pth')),
    neck=dict(in_channels=[196, 392, 784, 1568]))
