# BiFormer-T on ImageNet-1K with the authors' recipe (rayleizhu/BiFormer main.py and
# configs/train_args.yaml, DeiT-style training): 300 epochs, 5 warm-up epochs from 1e-6 then
# cosine decay to 1e-5, stepped per epoch; AdamW lr 1e-3 for 1024 images per step (8 GPUs x 128:
# main.py scales the README's lr=5e-4 by batch / 512), weight decay 0.05 on weights only (1-D
# parameters and biases exempt, timm's rule), repeated augmentation, EMA 0.99996, drop path 0.1
# (the arch default). 7x7 regions per map (n_win=7) as at ImageNet resolution.
# Released weights: 81.4 top-1.
# Differences: float32 unless `--amp` (the authors: torch native AMP).
#   python tools/train.py configs/biformer/biformer-tiny_8xb128_in1k.py
#   python tools/test.py configs/biformer/biformer-tiny_8xb128_in1k.py \
#       checkpoints/biformer-tiny_in1k.pth
_base_ = ['../_base_/recipes/imagenet_1k.py']

model = dict(
    backbone=dict(type='BiFormer', arch='tiny', n_win=7), head=dict(in_channels=512))

train_dataloader = dict(batch_size=128, sampler=dict(_delete_=True, type='RepeatAugSampler'))
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(clip_grad=None, paramwise_cfg=dict(no_decay_names=()))
param_scheduler = dict(warmup=5, convert_to_iter_based=False)
custom_hooks = [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
