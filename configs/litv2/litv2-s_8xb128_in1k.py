# LITv2-S on ImageNet-1K with the authors' recipe (ziplab/LITv2 classification/config.py and
# configs/litv2-small.yaml, Swin-style): 300 epochs, 20 warmup epochs then cosine decay, AdamW lr
# 1e-3 for 1024 images per step (8 GPUs x 128), weight decay 0.05, gradient clipping 5.0, drop
# path 0.2, the offset convs' weights of the deformable token merging at 0.01x the learning rate
# (their biases, 1-D, fall in the authors' no-decay group first and keep the full rate).
# Differences: float32 unless `--amp` (the authors: apex AMP O1).
# Released weights: 82.0 top-1.
#   python tools/train.py configs/litv2/litv2-s_8xb128_in1k.py
#   python tools/test.py configs/litv2/litv2-s_8xb128_in1k.py checkpoints/litv2-s_in1k.pth
_base_ = ['../_base_/recipes/imagenet_1k.py']

model = dict(
    backbone=dict(type='LITv2', arch='s', drop_path_rate=0.2), head=dict(in_channels=768))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(paramwise_cfg=dict(lr_mult={'conv_offset.weight': 0.01}))
