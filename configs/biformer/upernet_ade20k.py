# UPerNet with BiFormer-S on ADE20K, 512x512 crops, 160k iterations (paper: 49.8 mIoU).
#   python tools/model_converters/biformer_to_mmvitplug.py biformer_small_best.pth \
#       checkpoints/biformer-small_in1k.pth
#   bash tools/dist_train.sh configs/biformer/upernet_ade20k.py 8 --amp \
#       --cfg-options optim_wrapper.loss_scale=512.
# The authors' released recipe (rayleizhu/BiFormer semantic_segmentation/configs/ade20k/
# upernet.biformer_small.py, models_mm/biformer_mm.py): 8x8 regions per map (n_win=8), drop path
# 0.3, four fresh LayerNorm output norms, the backbone's BatchNorm synchronised across GPUs
# (`sync_bn='torch'`), AdamW 6e-5 with weight decay 0.01 except parameters named 'norm',
# 1500 warm-up iterations from 1e-6 then poly decay (power 1) to 0, 2 images x 8 GPUs, no layer
# decay. Differences: float32 unless `--amp` (the authors: fp16 with a static loss scale of 512,
# the command above); the UPerNet/FCN heads are mmseg 1.x's Swin setting, the same as the
# authors' mmseg 0.x upernet_r50.
_base_ = ['../_base_/recipes/upernet_160k_ade20k.py']

model = dict(
    backbone=dict(
        type='BiFormer',
        arch='small',
        n_win=8,
        drop_path_rate=0.3,
        out_norms='LN',
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/biformer-small_in1k.pth',
            prefix='backbone.')),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
sync_bn = 'torch'

optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, custom_keys={'norm': dict(decay_mult=0.)}))
