# UPerNet 160k with LITv2-M on ADE20K (authors' drop path 0.2); recipe as upernet_ade20k.py.
# Weights: litv2_m.pth converted to checkpoints/litv2-m_in1k.pth.
_base_ = ['./upernet_ade20k.py']

model = dict(
    backbone=dict(
        arch='m',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='checkpoints/litv2-m_in1k.pth')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
