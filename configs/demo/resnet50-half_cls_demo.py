# ResNet-50 at half width on the built-in demo dataset (object crops), a few minutes on a CPU:
# the baseline of resnet50-half-bra_cls_demo.py, which adds bi-level routing attention
# plug-ins and keeps everything else (schedule, seed).
#   python tools/make_demo_data.py
#   python tools/train.py configs/demo/resnet50-half_cls_demo.py
# mmdet's ResNet (mmpretrain's has no plug-in argument), trained from scratch on the 64x64
# crops upscaled to 128x128 (so that stage c5 still sees a 4x4 map), with the schedule of
# litv2_cls_demo.py (_base_/schedules/demo_cls.py).
_base_ = [
    '../_base_/datasets/demo_cls.py', '../_base_/schedules/demo_cls.py',
    '../_base_/runtime/mmpretrain.py'
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmdet.ResNet', depth=50, base_channels=32, stem_channels=32, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=4,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128)),
    dict(type='PackInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
randomness = dict(seed=0)
