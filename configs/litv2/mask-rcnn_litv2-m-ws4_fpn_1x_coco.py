# Mask R-CNN 1x (FPN) with LITv2-M, Hi-Fi window 4, on COCO: the authors' released recipe
# (46.5 box AP, 42.0 mask AP).
# Source: ziplab/LITv2 @b354524 detection/configs/litv2/mask_rcnn_litv2_m_fpn_1x_coco_ws_4.py,
# which differs from mask_rcnn_litv2_m_fpn_1x_coco.py only in the HiLo local windows
# (local_ws [0, 0, 4, 1]); the rest (and the differences) as mask-rcnn_litv2-m_fpn_1x_coco.py.
_base_ = ['./mask-rcnn_litv2-m_fpn_1x_coco.py']

model = dict(backbone=dict(local_ws=(0, 0, 4, 1)))
