# UPerNet 160k with FasterViT-3 on ADE20K (paper: 48.7 mIoU); recipe as upernet_ade20k.py.
# Weights: fastervit_3_224_1k.pth.tar converted to checkpoints/fastervit-3_in1k.pth.
_base_ = ['./upernet_ade20k.py']

model = dict(
    backbone=dict(
        arch='3',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/fastervit-3_in1k.pth')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
