# Mask R-CNN 1x recipe of the configs that reproduce the papers' COCO results: mmdet's Mask R-CNN
# (FPN, 2fc box head, 4conv mask head; the mmdet 2.x model the BiFormer and LITv2 authors
# inherit), single-scale 1333x800 training with flips, 12 epochs with steps at 8 and 11 after a
# 500-iteration linear warm-up from 1e-3 of the rate (mmdet's schedule_1x), COCO under
# data/coco/. AdamW 1e-4, betas (0.9, 0.999), weight decay 0.05 except on parameters whose names
# contain 'norm' (the authors' mmcv `custom_keys`; mmengine's default constructor matches them
# the same way). Family configs set `backbone` (type, arch, options, pretrained init_cfg),
# `neck.in_channels` and the optimizer values where theirs differ.
#
# float32 by default; `python tools/train.py CONFIG --amp` trains in mixed precision (GPUs).
# The learning rates are for 16 images per step (8 GPUs x 2); `--auto-scale-lr` rescales them.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py', 'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py', 'mmdet::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmvitplug'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, out_indices=(0, 1, 2, 3)))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
