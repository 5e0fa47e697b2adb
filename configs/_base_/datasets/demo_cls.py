# Built-in demo dataset, one image folder per class (tools/make_demo_data.py).
# The root can be moved with the MMVITPLUG_DEMO_DATA environment variable.
dataset_type = 'CustomDataset'
data_root = '{{$MMVITPLUG_DEMO_DATA:data/demo}}/cls/'
data_hint = ('The demo dataset is generated, not downloaded: '
             'python tools/make_demo_data.py --out {{$MMVITPLUG_DEMO_DATA:data/demo}}  '
             '(or: make demo-data)')
data_preprocessor = dict(
    num_classes=4,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs')
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, data_root=data_root, data_prefix='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, data_prefix='val', pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
