# UPerNet with FasterViT-2 on ADE20K, 512x512 crops, 160k iterations.
#   python tools/model_converters/fastervit_to_mmvitplug.py fastervit_2_224_1k.pth.tar \
#       checkpoints/fastervit-2_in1k.pth
#   python tools/train.py configs/fastervit/upernet_ade20k.py
# The authors report 47.2 mIoU (paper, UPerNet 160k) without publishing the recipe: this is
# mmseg's Swin UPerNet setting (AdamW 6e-5, weight decay 0.01, warmup + poly); drop path is the
# variant's ImageNet value; no weight decay on 1-D parameters and position encodings; output
# norms LayerNorm (stages 1-3) and the classifier's final norm (stage 4): this project's choices.
_base_ = ['../_base_/recipes/upernet_160k_ade20k.py']

model = dict(
    backbone=dict(
        type='FasterViT',
        arch='2',
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/fastervit-2_in1k.pth',
            prefix='backbone.')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
