# Mask R-CNN 1x (FPN) with LITv2-M on COCO: the authors' released recipe (46.8 box AP, 42.3 mask
# AP; 68 M parameters).
# Source: ziplab/LITv2 @b354524 detection/configs/litv2/mask_rcnn_litv2_m_fpn_1x_coco.py, which
# differs from the small one only in the depths (2-2-18-2); the rest (and the differences) as
# mask-rcnn_litv2-s_fpn_1x_coco.py. ImageNet weights: litv2_m.pth, converted on first use.
_base_ = ['./mask-rcnn_litv2-s_fpn_1x_coco.py']

model = dict(
    backbone=dict(
        arch='m',
        init_cfg=dict(
            checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_m.pth')))
