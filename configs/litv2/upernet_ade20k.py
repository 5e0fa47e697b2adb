# UPerNet with LITv2-S on ADE20K, 512x512 crops, 160k iterations.
#   python tools/model_converters/litv2_to_mmvitplug.py litv2_s.pth checkpoints/litv2-s_in1k.pth
#   python tools/train.py configs/litv2/upernet_ade20k.py
# The authors evaluate LITv2 on ADE20K with Semantic FPN only (fpn_litv2-{s,m,b}_8xb2-80k_ade20k-
# 512x512.py, 44.3/45.7/47.2 mIoU). The backbone is their segmentation backbone
# (ziplab/LITv2 @b354524 segmentation/mmseg/models/backbones/litv2.py and configs/litv2/*):
# alpha 0.9, local windows 2/1, drop path 0.2, fresh LayerNorm output norms on all four stages.
# This project's choice: UPerNet 160k and its optimizer, mmseg's Swin UPerNet setting (AdamW 6e-5,
# weight decay 0.01 except parameters named 'norm', 1500 warm-up iterations then poly decay).
_base_ = ['../_base_/recipes/upernet_160k_ade20k.py']

model = dict(
    backbone=dict(
        type='LITv2',
        arch='s',
        drop_path_rate=0.2,
        out_norms='LN',
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/litv2-s_in1k.pth', prefix='backbone.')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))

optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, custom_keys={'norm': dict(decay_mult=0.)}))
