# Cascade Mask R-CNN recipe of the detection configs: mmdet's ConvNeXt cascade config (FPN,
# 4conv1fc GIoU cascade heads, multi-scale + crop augmentation, 36 epochs with steps at 27/33,
# COCO under data/coco/) with its ConvNeXt backbone removed and the optimizer replaced by
# AdamW with layer-wise lr decay from backbone.get_layer_depth. Family configs set `backbone`
# (type, arch, drop path, pretrained init_cfg), `neck.in_channels` and the optimizer values.
#
# float32 by default; `python tools/train.py CONFIG --amp` switches to AmpOptimWrapper (GPUs).
# The learning rates are for 16 images per step (8 GPUs x 2); `--auto-scale-lr` rescales them.
_base_ = [
    'mmdet::convnext/'
    'cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py'
]
custom_imports = dict(imports=['mmvitplug'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, out_indices=(0, 1, 2, 3)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=1.0))

train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
