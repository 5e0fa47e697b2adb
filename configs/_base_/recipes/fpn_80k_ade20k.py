# Semantic FPN recipe of the configs that reproduce the papers' ADE20K results: mmseg's Semantic
# FPN (FPN 256 channels, 4 levels; FPNHead 128 channels with SyncBN, dropout 0.1, no auxiliary
# head), 512x512 crops (RandomResize (2048, 512) x 0.5-2.0, cat_max_ratio 0.75, flip,
# photometric distortion), test at a short side of 512 keeping the aspect ratio (whole image),
# ADE20K under data/ade/ADEChallengeData2016, 80k iterations. Optimizer and schedule are the
# LITv2 authors' (segmentation/configs/litv2/*, schedule_80k): AdamW 1e-4, betas (0.9, 0.999),
# weight decay 1e-4 on every parameter, poly decay (power 0.9) to 1e-6 without warm-up,
# 16 images per step (8 GPUs x 2). Family configs set `backbone` (type, arch, options,
# pretrained init_cfg), `neck.in_channels` and whatever of theirs differs.
#
# float32 by default; `python tools/train.py CONFIG --amp` trains in mixed precision (GPUs).
# The learning rate is for 16 images per step; `--auto-scale-lr` rescales it.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/schedules/schedule_80k.py', 'mmseg::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmvitplug'], allow_failed_imports=False)
crop_size = (512, 512)
num_classes = 150

model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(_delete_=True, out_indices=(0, 1, 2, 3)),
    decode_head=dict(num_classes=num_classes))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=0, end=80000, by_epoch=False)
]

train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
