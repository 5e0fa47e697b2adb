# BiFormer-T on ImageNet-1K with the authors' recipe (rayleizhu/BiFormer configs/train_args.yaml,
# timm-style training): 300 epochs of cosine decay after 5 warmup epochs, then 10 cool-down
# epochs at the minimum rate (1e-5); AdamW lr 5e-4 for 1024 images per step (8 GPUs x 128),
# weight decay 0.05, repeated augmentation, EMA 0.99996, drop path 0.1 (the arch default).
# 7x7 regions per map (n_win=7) as at ImageNet resolution. Released weights: 81.4 top-1.
#   python tools/train.py configs/biformer/biformer-tiny_in1k.py
#   python tools/test.py configs/biformer/biformer-tiny_in1k.py checkpoints/biformer-tiny_in1k.pth
_base_ = ['../_base_/recipes/imagenet_1k.py']

model = dict(
    backbone=dict(type='BiFormer', arch='tiny', n_win=7), head=dict(in_channels=512))

train_dataloader = dict(batch_size=128, sampler=dict(_delete_=True, type='RepeatAugSampler'))
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=5e-4), clip_grad=None)
param_scheduler = dict(warmup=5, warmup_start_factor=2e-3)
train_cfg = dict(max_epochs=310)
custom_hooks = [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
