# Cascade Mask R-CNN 3x with FasterViT-3 on COCO (paper: 52.4 box AP); recipe as
# cascade_mask_rcnn_coco.py. Weights: fastervit_3_224_1k.pth.tar converted with
# tools/model_converters/fastervit_to_mmvitplug.py to checkpoints/fastervit-3_in1k.pth.
_base_ = ['./cascade_mask_rcnn_coco.py']

model = dict(
    backbone=dict(
        arch='3',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/fastervit-3_in1k.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
