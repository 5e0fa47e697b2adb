# RetinaNet 1x (FPN) with LITv2-B, Hi-Fi window 4, on COCO: the authors' released recipe
# (46.3 box AP).
# Source: ziplab/LITv2 @b354524 detection/configs/litv2/retinanet_litv2_b_fpn_1x_coco_ws_4.py,
# which differs from retinanet_litv2_b_fpn_1x_coco.py only in the HiLo local windows
# (local_ws [0, 0, 4, 1]); the rest (and the differences) as retinanet_litv2-b_fpn_1x_coco.py.
_base_ = ['./retinanet_litv2-b_fpn_1x_coco.py']

model = dict(backbone=dict(local_ws=(0, 0, 4, 1)))
