# UPerNet recipe of the segmentation configs: mmseg's Swin UPerNet setting (UPerHead + auxiliary
# FCN head on stage 3, 512x512 crops, ADE20K under data/ade/ADEChallengeData2016, 160k
# iterations, AdamW with 1500 warmup iterations then poly decay). Family configs set `backbone`
# (type, arch, drop path, pretrained init_cfg), the heads' in_channels and the optimizer values.
#
# Test images are resized to a short side of 512 keeping the aspect ratio (e.g. 512x683): the
# backbones pad windows/regions internally and need no size multiple of 32.
# The learning rate is for 16 images per step (8 GPUs x 2); `--auto-scale-lr` rescales it.
_base_ = [
    'mmseg::_base_/models/upernet_swin.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/schedules/schedule_160k.py', 'mmseg::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmvitplug'], allow_failed_imports=False)
crop_size = (512, 512)
num_classes = 150

model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(_delete_=True, out_indices=(0, 1, 2, 3)),
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(layer_decay_rate=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False)
]

train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=16)
