# Cascade Mask R-CNN (FPN, 4conv1fc GIoU heads, multi-scale + crop, 3x) with LITv2-S on COCO.
#   python tools/model_converters/litv2_to_mmvitplug.py litv2_s.pth checkpoints/litv2-s_in1k.pth
#   python tools/train.py configs/litv2/cascade_mask_rcnn_coco.py [--amp]
# The authors' COCO configs (ziplab/LITv2 @b354524 detection/configs/litv2/
# mask_rcnn_litv2_s_fpn_1x_coco.py, detection/mmdet/models/backbones/litv2.py) give the backbone
# and optimizer: alpha 0.9, local windows 2 (stage 3) and 1 (stage 4), drop path 0.2, no output
# norm on stage 1 and fresh LayerNorms on stages 2-4, AdamW 2e-4 with weight decay 1e-4 except
# parameters named 'norm', no layer decay. This project's choice (the authors have no cascade):
# the detector, 36 epochs and the multi-scale + crop augmentation (mmdet's ConvNeXt cascade
# recipe). float32 unless `--amp` (the authors trained with apex AMP). The authors' own recipes:
# mask-rcnn_litv2-s_fpn_1x_coco.py (44.9 box AP), retinanet_litv2-s_fpn_1x_coco.py.
_base_ = ['../_base_/recipes/cascade_mask_rcnn_fpn_3x_coco.py']

model = dict(
    backbone=dict(
        type='LITv2',
        arch='s',
        drop_path_rate=0.2,
        out_norms=(None, 'LN', 'LN', 'LN'),
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/litv2-s_in1k.pth', prefix='backbone.')),
    neck=dict(in_channels=[96, 192, 384, 768]))

optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    optimizer=dict(weight_decay=1e-4),
    paramwise_cfg=dict(_delete_=True, custom_keys={'norm': dict(decay_mult=0.)}))
