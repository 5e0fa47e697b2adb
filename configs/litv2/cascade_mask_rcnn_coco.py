# Cascade Mask R-CNN (FPN, 4conv1fc GIoU heads, multi-scale + crop, 3x) with LITv2-S on COCO.
#   python tools/model_converters/litv2_to_mmvitplug.py litv2_s.pth checkpoints/litv2-s_in1k.pth
#   python tools/train.py configs/litv2/cascade_mask_rcnn_coco.py [--amp]
# Backbone and optimizer as the authors' COCO configs (ziplab/LITv2 detection): alpha 0.9,
# local windows 2 (stage 3) and 1 (stage 4), drop path 0.2, AdamW 2e-4 with weight decay 1e-4,
# no layer decay. The paper reports 44.9 box AP for LITv2-S with Mask R-CNN 1x.
_base_ = ['../_base_/recipes/cascade_mask_rcnn_fpn_3x_coco.py']

model = dict(
    backbone=dict(
        type='LITv2',
        arch='s',
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/litv2-s_in1k.pth', prefix='backbone.')),
    neck=dict(in_channels=[96, 192, 384, 768]))

optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
