# Cascade Mask R-CNN (FPN, 4conv1fc GIoU heads, multi-scale + crop, 3x) with BiFormer-S on COCO.
#   python tools/model_converters/biformer_to_mmvitplug.py biformer_small_best.pth \
#       checkpoints/biformer-small_in1k.pth
#   python tools/train.py configs/biformer/cascade_mask_rcnn_coco.py [--amp]
# Backbone and optimizer as the authors' COCO configs (rayleizhu/BiFormer object_detection):
# 16x16 regions per map (n_win=16), drop path 0.2, AdamW 1e-4 with weight decay 0.05, no layer
# decay. The paper reports 47.8 box AP for BiFormer-S with Mask R-CNN 1x (not this cascade 3x).
_base_ = ['../_base_/recipes/cascade_mask_rcnn_fpn_3x_coco.py']

model = dict(
    backbone=dict(
        type='BiFormer',
        arch='small',
        n_win=16,
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/biformer-small_in1k.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]))

optim_wrapper = dict(optimizer=dict(lr=1e-4))
