# Cascade Mask R-CNN on the built-in demo dataset, sized to train in minutes on a CPU.
#   python tools/make_demo_data.py
#   python tools/train.py configs/demo/cascade_mask_rcnn_demo.py
# Backbone: FasterViT-0 (the released architecture, 31M parameters), trained from scratch: the
# demo needs no download. Stage outputs 64/128/256/512 channels at strides 4/8/16/32.
_base_ = ['../_base_/datasets/demo_coco_instance.py', '../_base_/runtime/mmdet.py']

num_classes = 4
neck_channels = 32
norm_cfg = dict(type='BN', requires_grad=True)


def _cascade_bbox_head(target_stds):
    return dict(
        type='Shared2FCBBoxHead',
        in_channels=neck_channels,
        fc_out_channels=128,
        roi_feat_size=7,
        num_classes=num_classes,
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.], target_stds=target_stds),
        reg_class_agnostic=True,
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))


def _rcnn_train_cfg(iou):
    return dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=iou,
            neg_iou_thr=iou,
            min_pos_iou=iou,
            match_low_quality=False,
            ignore_iof_thr=-1),
        sampler=dict(
            type='RandomSampler', num=64, pos_fraction=0.25, neg_pos_ub=-1,
            add_gt_as_proposals=True),
        mask_size=28,
        pos_weight=-1,
        debug=False)


model = dict(
    type='CascadeRCNN',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_mask=True,
        pad_size_divisor=32),
    # Objects are >= 20 px: no stride-4 level, which is costly on CPU (and an output nobody
    # reads would leave parameters without gradients, which DistributedDataParallel refuses).
    backbone=dict(type='FasterViT', arch='0', out_indices=(1, 2, 3), drop_path_rate=0.1),
    neck=dict(
        type='FPN',
        in_channels=[128, 256, 512],
        out_channels=neck_channels,
        num_outs=4,
        norm_cfg=norm_cfg),
    rpn_head=dict(
        type='RPNHead',
        in_channels=neck_channels,
        feat_channels=neck_channels,
        anchor_generator=dict(
            type='AnchorGenerator',
            scales=[4],
            ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32, 64]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=1.0)),
    roi_head=dict(
        type='CascadeRoIHead',
        num_stages=3,
        stage_loss_weights=[1, 0.5, 0.25],
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=neck_channels,
            featmap_strides=[8, 16, 32]),
        bbox_head=[
            _cascade_bbox_head([0.1, 0.1, 0.2, 0.2]),
            _cascade_bbox_head([0.05, 0.05, 0.1, 0.1]),
            _cascade_bbox_head([0.033, 0.033, 0.067, 0.067]),
        ],
        mask_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels=neck_channels,
            featmap_strides=[8, 16, 32]),
        mask_head=dict(
            type='FCNMaskHead',
            num_convs=2,
            in_channels=neck_channels,
            conv_out_channels=neck_channels,
            num_classes=num_classes,
            loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.7,
                neg_iou_thr=0.3,
                min_pos_iou=0.3,
                match_low_quality=True,
                ignore_iof_thr=-1),
            sampler=dict(
                type='RandomSampler', num=128, pos_fraction=0.5, neg_pos_ub=-1,
                add_gt_as_proposals=False),
            allowed_border=0,
            pos_weight=-1,
            debug=False),
        rpn_proposal=dict(
            nms_pre=1000, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0),
        rcnn=[_rcnn_train_cfg(0.5), _rcnn_train_cfg(0.6), _rcnn_train_cfg(0.7)]),
    test_cfg=dict(
        rpn=dict(
            nms_pre=500, max_per_img=200, nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0),
        rcnn=dict(
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=50,
            mask_thr_binary=0.5)))

max_iters = 300
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=10.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, T_max=max_iters - 50,
        eta_min=2e-5)
]
auto_scale_lr = dict(enable=False, base_batch_size=4)

default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=2))
log_processor = dict(window_size=20, by_epoch=False)
randomness = dict(seed=0)
