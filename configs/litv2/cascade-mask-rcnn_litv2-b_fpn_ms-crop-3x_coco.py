# Cascade Mask R-CNN 3x with LITv2-B on COCO (the authors' COCO drop path 0.3); recipe and the
# authors' / this project's settings as cascade_mask_rcnn_coco.py. Weights: litv2_b.pth converted
# with tools/model_converters/litv2_to_mmvitplug.py to checkpoints/litv2-b_in1k.pth.
_base_ = ['./cascade_mask_rcnn_coco.py']

model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/litv2-b_in1k.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
