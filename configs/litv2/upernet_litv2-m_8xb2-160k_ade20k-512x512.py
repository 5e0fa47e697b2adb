# UPerNet 160k with LITv2-M on ADE20K (the authors' segmentation drop path 0.2); recipe and the
# authors' / this project's settings as upernet_ade20k.py. Weights: litv2_m.pth converted to
# checkpoints/litv2-m_in1k.pth.
_base_ = ['./upernet_ade20k.py']

model = dict(
    backbone=dict(
        arch='m',
        init_cfg=dict(checkpoint='checkpoints/litv2-m_in1k.pth')))
