# Semantic FPN 80k with BiFormer-S on ADE20K, 512x512 crops: the authors' released recipe
# (48.9 mIoU).
#   python tools/model_converters/biformer_to_mmvitplug.py biformer_small_best.pth \
#       checkpoints/biformer-small_in1k.pth
#   bash tools/dist_train.sh configs/biformer/fpn_biformer-small_8xb4-80k_ade20k-512x512.py 8 \
#       --amp --cfg-options optim_wrapper.loss_scale=512.
# Source: rayleizhu/BiFormer semantic_segmentation/configs/ade20k/sfpn.biformer_small.py and its
# _base_ (models/fpn_r50, datasets/ade20k_sfpn), backbone
# semantic_segmentation/models_mm/biformer_mm.py (BiFormer_mm): 8x8 regions (n_win=8), drop path
# 0.15, four fresh LayerNorm output norms, the backbone's BatchNorm synchronised across GPUs
# (`sync_bn='torch'` converts every BatchNorm, the head's being SyncBN already), AdamW 2e-4 with
# weight decay 1e-4 on every parameter, 1000-iteration linear warm-up from 0.1 multiplied onto a
# cosine decay over the 80k iterations to 1e-8 of the rate (mmcv's CosineAnnealing lr hook),
# 4 images x 8 GPUs, evaluation every 4000 iterations.
# Differences:
#   - float32 unless `--amp`: the authors trained in fp16 with a static loss scale of 512
#     (Fp16OptimizerHook); mmengine's AmpOptimWrapper needs a GPU to build, so the command
#     above gives theirs.
#   - test images are resized to a short side of 512 keeping the aspect ratio, without the
#     authors' AlignResize rounding to multiples of 32 (not in mmseg 1.x; the backbone pads
#     internally).
#   - no RepeatDataset x50: mmengine's iteration loop samples without epochs.
_base_ = ['../_base_/recipes/fpn_80k_ade20k.py']

model = dict(
    backbone=dict(
        type='BiFormer',
        arch='small',
        n_win=8,
        drop_path_rate=0.15,
        out_norms='LN',
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/biformer-small_in1k.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]))
sync_bn = 'torch'

optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-8, by_epoch=False, begin=0, end=80000)
]

train_dataloader = dict(batch_size=4)
train_cfg = dict(val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000, save_best='mIoU'))
auto_scale_lr = dict(base_batch_size=32)
