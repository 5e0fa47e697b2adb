# UPerNet 160k with FasterViT-4 on ADE20K (paper: 49.1 mIoU); recipe as upernet_ade20k.py.
# Weights: fastervit_4_224_1k.pth.tar converted to checkpoints/fastervit-4_in1k.pth.
_base_ = ['./upernet_ade20k.py']

model = dict(
    backbone=dict(
        arch='4',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/fastervit-4_in1k.pth')),
    decode_head=dict(in_channels=[196, 392, 784, 1568]),
    auxiliary_head=dict(in_channels=784))
