# Semantic FPN 80k with LITv2-B on ADE20K, 512x512 crops: the authors' released recipe (47.2 mIoU;
# 90 M parameters).
# Source: ziplab/LITv2 @b354524 segmentation/configs/litv2/litv2_b_fpn_r50_512x512_80k_ade20k.py:
# the small one with widths 128-1024, heads 4-8-16-32 and drop path 0.3; the rest as
# fpn_litv2-s_8xb2-80k_ade20k-512x512.py. ImageNet weights: litv2_b.pth, converted on first use.
_base_ = ['./fpn_litv2-s_8xb2-80k_ade20k-512x512.py']

model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.3,
        init_cfg=dict(
            checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_b.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
