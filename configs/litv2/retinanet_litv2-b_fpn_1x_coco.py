# RetinaNet 1x (FPN) with LITv2-B on COCO: the authors' released recipe (46.7 box AP; 97 M
# parameters).
# Source: ziplab/LITv2 @b354524 detection/configs/litv2/retinanet_litv2_b_fpn_1x_coco.py: the
# small one with widths 128-1024, heads 4-8-16-32, drop path 0.3 and gradient checkpointing
# (`use_checkpoint=True`, memory only: `with_cp`); the rest (and the differences) as
# retinanet_litv2-s_fpn_1x_coco.py. ImageNet weights: litv2_b.pth, converted on first use.
_base_ = ['./retinanet_litv2-s_fpn_1x_coco.py']

model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.3,
        with_cp=True,
        init_cfg=dict(
            checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_b.pth')),
    neck=dict(in_channels=[256, 512, 1024]))
