# Cascade Mask R-CNN 3x with LITv2-M on COCO (the authors' COCO drop path 0.2); recipe and the
# authors' / this project's settings as cascade_mask_rcnn_coco.py. Weights: litv2_m.pth converted
# with tools/model_converters/litv2_to_mmvitplug.py to checkpoints/litv2-m_in1k.pth.
_base_ = ['./cascade_mask_rcnn_coco.py']

model = dict(
    backbone=dict(
        arch='m',
        init_cfg=dict(checkpoint='checkpoints/litv2-m_in1k.pth')))
