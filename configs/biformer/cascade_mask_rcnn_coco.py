# Cascade Mask R-CNN (FPN, 4conv1fc GIoU heads, multi-scale + crop, 3x) with BiFormer-S on COCO.
#   python tools/model_converters/biformer_to_mmvitplug.py biformer_small_best.pth \
#       checkpoints/biformer-small_in1k.pth
#   python tools/train.py configs/biformer/cascade_mask_rcnn_coco.py [--amp]
# The authors' COCO configs (rayleizhu/BiFormer object_detection/configs/coco/
# maskrcnn.1x.biformer_small.py, models_mm/biformer_mm.py) give the backbone and optimizer:
# 16x16 regions per map (n_win=16), drop path 0.2, four fresh LayerNorm output norms, BatchNorm
# in eval mode (norm_eval), AdamW 1e-4 with weight decay 0.05 except parameters named 'norm',
# no layer decay. This project's choice (the authors have no cascade): the detector, 36 epochs
# and the multi-scale + crop augmentation (mmdet's ConvNeXt cascade recipe). float32 unless
# `--amp` (the authors trained in fp16). The authors' own recipe:
# mask-rcnn_biformer-small_fpn_1x_coco.py (47.8 box AP).
_base_ = ['../_base_/recipes/cascade_mask_rcnn_fpn_3x_coco.py']

model = dict(
    backbone=dict(
        type='BiFormer',
        arch='small',
        n_win=16,
        drop_path_rate=0.2,
        out_norms='LN',
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/biformer-small_in1k.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]))

optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    optimizer=dict(lr=1e-4),
    paramwise_cfg=dict(_delete_=True, custom_keys={'norm': dict(decay_mult=0.)}))
