# Cascade Mask R-CNN 3x with BiFormer-B on COCO (the authors' COCO backbone setting: n_win=16,
# drop path 0.3); recipe and the authors' / this project's settings as cascade_mask_rcnn_coco.py.
# Weights: biformer_base_best.pth converted with tools/model_converters/biformer_to_mmvitplug.py
# to checkpoints/biformer-base_in1k.pth.
_base_ = ['./cascade_mask_rcnn_coco.py']

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/biformer-base_in1k.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
