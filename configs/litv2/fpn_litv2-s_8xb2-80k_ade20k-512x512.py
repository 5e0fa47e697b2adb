# Semantic FPN 80k with LITv2-S on ADE20K, 512x512 crops: the authors' released recipe (44.3 mIoU;
# 31 M parameters).
#   The ImageNet weights (litv2_s.pth, the authors' GitHub release) are downloaded and
#   converted on first use; offline: python tools/model_converters/litv2_to_mmvitplug.py \
#       litv2_s.pth checkpoints/litv2-s_in1k.pth  (and point init_cfg.checkpoint at it)
#   bash tools/dist_train.sh configs/litv2/fpn_litv2-s_8xb2-80k_ade20k-512x512.py 8
# Source: ziplab/LITv2 @b354524 segmentation/configs/litv2/litv2_s_fpn_r50_512x512_80k_ade20k.py
# and its _base_ (models/fpn_r50_lit, datasets/ade20k, schedules/schedule_80k), backbone
# segmentation/mmseg/models/backbones/litv2.py: alpha 0.9, local windows 2/1 (stages 3/4), drop
# path 0.2, fresh LayerNorm output norms on all four stages; the optimizer, schedule, data and
# batch (2 images x 8 GPUs, README.md) are the recipe's, float32 as theirs.
# No difference from the authors' setting.
_base_ = ['../_base_/recipes/fpn_80k_ade20k.py']

model = dict(
    backbone=dict(
        type='LITv2',
        arch='s',
        drop_path_rate=0.2,
        out_norms='LN',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[96, 192, 384, 768]))
