# Image classifier on the built-in demo dataset (object crops), a few minutes on a CPU.
#   python tools/make_demo_data.py
#   python tools/train.py configs/demo/litv2_cls_demo.py
# Backbone: LITv2-S trained from scratch on the 64x64 object crops (the same classifier layout
# as the ImageNet configs: global average pooling and a linear head on the last stage).
_base_ = ['../_base_/datasets/demo_cls.py', '../_base_/runtime/mmpretrain.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(type='LITv2', arch='s', out_indices=(3, ), drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=4,
        in_channels=768,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

max_epochs = 5
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, T_max=max_epochs - 1, eta_min=1e-5)
]
auto_scale_lr = dict(base_batch_size=32)
randomness = dict(seed=0)
