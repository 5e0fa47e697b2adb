# UPerNet 160k with LITv2-B on ADE20K (the authors' segmentation drop path 0.3); recipe and the
# authors' / this project's settings as upernet_ade20k.py. Weights: litv2_b.pth converted to
# checkpoints/litv2-b_in1k.pth.
_base_ = ['./upernet_ade20k.py']

model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/litv2-b_in1k.pth')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
