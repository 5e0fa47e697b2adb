# UPerNet 160k with BiFormer-B on ADE20K (paper: 51.0 mIoU; the authors' drop path 0.4); recipe
# as upernet_ade20k.py (rayleizhu/BiFormer semantic_segmentation/configs/ade20k/
# upernet.biformer_base.py). Weights: biformer_base_best.pth converted to
# checkpoints/biformer-base_in1k.pth.
_base_ = ['./upernet_ade20k.py']

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.4,
        init_cfg=dict(checkpoint='checkpoints/biformer-base_in1k.pth')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
