# Mask R-CNN 1x (FPN) with LITv2-S on COCO: the authors' released recipe (44.9 box AP, 40.8 mask
# AP; 47 M parameters).
#   The ImageNet weights (litv2_s.pth, the authors' GitHub release) are downloaded and
#   converted on first use; offline: python tools/model_converters/litv2_to_mmvitplug.py \
#       litv2_s.pth checkpoints/litv2-s_in1k.pth  (and point init_cfg.checkpoint at it)
#   python tools/train.py configs/litv2/mask-rcnn_litv2-s_fpn_1x_coco.py --amp
# Source: ziplab/LITv2 @b354524 detection/configs/litv2/mask_rcnn_litv2_s_fpn_1x_coco.py and its
# _base_ (models/mask_rcnn_fpn, datasets/coco_instance, schedules/schedule_1x), backbone
# detection/mmdet/models/backbones/litv2.py: alpha 0.9, local windows 2/1 (stages 3/4), drop
# path 0.2, no output norm on stage 1 and fresh LayerNorms on stages 2-4, AdamW 2e-4 with weight
# decay 1e-4 except 'norm' parameters, 12 epochs, 2 images x 8 GPUs (README.md).
# Differences:
#   - float32 unless `--amp`: the authors trained with apex AMP O1 (dynamic loss scaling);
#     `--amp` gives the native equivalent (AmpOptimWrapper, dynamic loss scale).
_base_ = ['../_base_/recipes/mask_rcnn_fpn_1x_coco.py']

model = dict(
    backbone=dict(
        type='LITv2',
        arch='s',
        drop_path_rate=0.2,
        out_norms=(None, 'LN', 'LN', 'LN'),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[96, 192, 384, 768]))

optim_wrapper = dict(optimizer=dict(lr=2e-4, weight_decay=1e-4))
