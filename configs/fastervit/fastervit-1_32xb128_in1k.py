# FasterViT-1 on ImageNet-1K with the authors' recipe (faster_vit_1_224_1k.yaml: AdamW,
# weight decay 0.05, 20 warmup epochs; drop path 0.2); the rest as fastervit-0_32xb128_in1k.py.
# The released weights reach 83.2 top-1; they are evaluated at crop pct 1.0 (resize to 224).
_base_ = ['./fastervit-0_32xb128_in1k.py']

model = dict(backbone=dict(arch='1'), head=dict(in_channels=640))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=224, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
