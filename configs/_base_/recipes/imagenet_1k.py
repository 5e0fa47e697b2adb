# ImageNet-1K classification recipe of the mmpretrain configs: mmpretrain's DeiT/Swin data
# pipeline (RandomResizedCrop 224 bicubic, RandAugment m9 mstd0.5, random erasing 0.25; test:
# short side 256, centre crop 224 = crop pct 0.875), Mixup 0.8 / CutMix 1.0, label smoothing 0.1,
# AdamW with linear warm-up then cosine decay, gradient clipping 5.0, data under data/imagenet.
# Family configs set the backbone, the head's in_channels and the authors' optimizer values.
#
# The schedule is one WarmupCosineLR (mmvitplug), shaped as the authors' timm schedulers: a
# cosine over [0, end] whose first `warmup` steps are a linear warm-up (cosine_from_begin),
# stepped per iteration, so a config changes only the numbers it needs, e.g.
# `param_scheduler = dict(warmup=35)`; training past `end` is a cool-down at eta_min. Defaults:
# Swin's recipe (warm-up 20 epochs from 1e-3 of the rate, cosine to 1e-5 at epoch 300).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmvitplug'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=1.0),
    clip_grad=dict(max_norm=5.0))
param_scheduler = dict(
    _delete_=True,
    type='WarmupCosineLR',
    warmup=20,
    warmup_start_factor=1e-3,
    eta_min=1e-5,
    end=300,
    cosine_from_begin=True,
    by_epoch=True,
    convert_to_iter_based=True)
