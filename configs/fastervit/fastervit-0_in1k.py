# FasterViT-0 on ImageNet-1K with the authors' recipe (NVlabs/FasterViT
# fastervit/configs/faster_vit_0_224_1k.yaml and TRAINING.md): 300 epochs of cosine decay
# after 20 warmup epochs, then 10 cool-down epochs at the minimum rate; lr 5e-3 for 4096 images
# per step (32 GPUs x 128), AdamW, weight decay 0.05, drop path 0.2, EMA 0.9998, gradient
# clipping 5.0. MESA (the authors' self-distillation regulariser) is not reproduced.
#   python tools/train.py configs/fastervit/fastervit-0_in1k.py
#   python tools/test.py configs/fastervit/fastervit-0_in1k.py checkpoints/fastervit-0_in1k.pth
_base_ = ['../_base_/recipes/imagenet_1k.py']

model = dict(
    backbone=dict(type='FasterViT', arch='0', drop_path_rate=0.2),
    head=dict(in_channels=512))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=5e-3))
param_scheduler = dict(warmup_start_factor=2e-4, eta_min=5e-6)
train_cfg = dict(max_epochs=310)
auto_scale_lr = dict(base_batch_size=4096)
custom_hooks = [dict(type='EMAHook', momentum=2e-4, priority='ABOVE_NORMAL')]
