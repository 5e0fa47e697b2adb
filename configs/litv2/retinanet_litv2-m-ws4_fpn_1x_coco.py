# RetinaNet 1x (FPN) with LITv2-M, Hi-Fi window 4, on COCO: the authors' released recipe
# (45.8 box AP).
# Source: ziplab/LITv2 @b354524 detection/configs/litv2/retinanet_litv2_m_fpn_1x_coco_ws_4.py,
# which differs from retinanet_litv2_m_fpn_1x_coco.py only in the HiLo local windows
# (local_ws [0, 0, 4, 1]); the rest (and the differences) as retinanet_litv2-m_fpn_1x_coco.py.
_base_ = ['./retinanet_litv2-m_fpn_1x_coco.py']

model = dict(backbone=dict(local_ws=(0, 0, 4, 1)))
