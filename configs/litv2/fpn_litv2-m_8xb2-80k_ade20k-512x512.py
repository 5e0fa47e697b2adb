# Semantic FPN 80k with LITv2-M on ADE20K, 512x512 crops: the authors' released recipe (45.7 mIoU;
# 52 M parameters).
# Source: ziplab/LITv2 @b354524 segmentation/configs/litv2/litv2_m_fpn_r50_512x512_80k_ade20k.py,
# which differs from the small one only in the depths (2-2-18-2); the rest as
# fpn_litv2-s_8xb2-80k_ade20k-512x512.py. ImageNet weights: litv2_m.pth, converted on first use.
_base_ = ['./fpn_litv2-s_8xb2-80k_ade20k-512x512.py']

model = dict(
    backbone=dict(
        arch='m',
        init_cfg=dict(
            checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_m.pth')))
