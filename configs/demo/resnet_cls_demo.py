# Image classifier on the built-in demo dataset (object crops), a few minutes on a CPU.
#   python tools/make_demo_data.py
#   python tools/train.py configs/demo/resnet_cls_demo.py
# The backbone is a placeholder (mmpretrain's ResNet-18 at a quarter of its width) until
# mmvitplug's own backbones replace it.
_base_ = ['../_base_/datasets/demo_cls.py', '../_base_/runtime/mmpretrain.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=18, stem_channels=16, base_channels=16, num_stages=4,
        out_indices=(3, ), style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=4,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

max_epochs = 10
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, T_max=max_epochs - 1, eta_min=1e-5)
]
auto_scale_lr = dict(base_batch_size=32)
randomness = dict(seed=0)
