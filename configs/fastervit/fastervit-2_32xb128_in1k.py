# FasterViT-2 on ImageNet-1K with the authors' recipe (faster_vit_2_224_1k.yaml: AdamW,
# weight decay 0.05, 20 warmup epochs; drop path 0.2); the rest as fastervit-1_32xb128_in1k.py.
# The released weights reach 84.2 top-1 (crop pct 1.0).
_base_ = ['./fastervit-1_32xb128_in1k.py']

model = dict(backbone=dict(arch='2'), head=dict(in_channels=768))
