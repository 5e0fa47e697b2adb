# Built-in demo dataset, ADE20K-style semantic segmentation (tools/make_demo_data.py).
# Label 0 marks clutter ("other") and is ignored, as ADE20K's 0 (reduce_zero_label).
# The root can be moved with the MMVITPLUG_DEMO_DATA environment variable.
dataset_type = 'BaseSegDataset'
data_root = '{{$MMVITPLUG_DEMO_DATA:data/demo}}/ade/'
data_hint = ('The demo dataset is generated, not downloaded: '
             'python tools/make_demo_data.py --out {{$MMVITPLUG_DEMO_DATA:data/demo}}  '
             '(or: make demo-data)')
metainfo = dict(
    classes=('background', 'circle', 'triangle', 'rectangle', 'star'),
    palette=[(120, 120, 120), (220, 20, 60), (0, 130, 230), (250, 170, 30), (0, 170, 80)])
# Training crops are a quarter of a scene: on a CPU, four times the optimizer steps per minute
# of full-scene crops (the segmentors learn the classes from steps, not pixels); tests run on
# the whole 256x256 scene.
crop_size = (128, 128)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(256, 256), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=True,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=True,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
