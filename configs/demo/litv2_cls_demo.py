# Image classifier on the built-in demo dataset (object crops), a few minutes on a CPU.
#   python tools/make_demo_data.py
#   python tools/train.py configs/demo/litv2_cls_demo.py
# Backbone: LITv2-S trained from scratch on the 64x64 object crops (the same classifier layout
# as the ImageNet configs: global average pooling and a linear head on the last stage).
_base_ = [
    '../_base_/datasets/demo_cls.py', '../_base_/schedules/demo_cls.py',
    '../_base_/runtime/mmpretrain.py'
]

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
randomness = dict(seed=0)
