# FasterViT-3 on ImageNet-1K with the authors' recipe (faster_vit_3_224_1k.yaml: AdamW,
# weight decay 0.075, 35 warmup epochs; drop path 0.3); the rest as fastervit-1_32xb128_in1k.py.
# The released weights reach 84.9 top-1 (crop pct 1.0).
_base_ = ['./fastervit-1_32xb128_in1k.py']

model = dict(backbone=dict(arch='3', drop_path_rate=0.3), head=dict(in_channels=1024))

optim_wrapper = dict(optimizer=dict(weight_decay=0.075))
param_scheduler = dict(warmup=35)
