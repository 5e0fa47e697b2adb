# resnet50-half_cls_demo.py with bi-level routing attention (BRA) plug-ins after conv2 of every
# bottleneck of stages c3-c5; same data, schedule and seed.
#   python tools/train.py configs/demo/resnet50-half-bra_cls_demo.py
# Regions of 4x4 tokens (region_size), each routed to the 4 best-matching regions: at 128x128
# inputs c3 (16x16) has 16 regions; c4 (8x8) and c5 (4x4) have 4 or 1, so there BRA attends
# globally.
_base_ = './resnet50-half_cls_demo.py'

model = dict(
    backbone=dict(plugins=[
        dict(cfg=dict(type='BiLevelRoutingAttention2d', region_size=4, topk=4),
             stages=(False, True, True, True), position='after_conv2')
    ]))
