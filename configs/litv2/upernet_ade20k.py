# UPerNet with LITv2-S on ADE20K, 512x512 crops, 160k iterations.
#   python tools/model_converters/litv2_to_mmvitplug.py litv2_s.pth checkpoints/litv2-s_in1k.pth
#   python tools/train.py configs/litv2/upernet_ade20k.py
# The authors evaluate LITv2 on ADE20K with Semantic FPN (S/M/B: 44.3/45.7/47.2 mIoU), not
# UPerNet: backbone settings are theirs (drop path 0.2, local windows 2/1), the optimizer is
# mmseg's Swin UPerNet setting (AdamW 6e-5, weight decay 0.01, warmup + poly).
_base_ = ['../_base_/recipes/upernet_160k_ade20k.py']

model = dict(
    backbone=dict(
        type='LITv2',
        arch='s',
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/litv2-s_in1k.pth', prefix='backbone.')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
