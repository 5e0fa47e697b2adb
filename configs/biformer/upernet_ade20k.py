# UPerNet with BiFormer-S on ADE20K, 512x512 crops, 160k iterations (paper: 49.8 mIoU).
#   python tools/model_converters/biformer_to_mmvitplug.py biformer_small_best.pth \
#       checkpoints/biformer-small_in1k.pth
#   python tools/train.py configs/biformer/upernet_ade20k.py
# As the authors' ADE20K UPerNet configs (rayleizhu/BiFormer semantic_segmentation): 8x8
# regions per map (n_win=8), drop path 0.3, AdamW 6e-5 with weight decay 0.01, 1500 warmup
# iterations then poly decay, no layer decay.
_base_ = ['../_base_/recipes/upernet_160k_ade20k.py']

model = dict(
    backbone=dict(
        type='BiFormer',
        arch='small',
        n_win=8,
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/biformer-small_in1k.pth',
            prefix='backbone.')),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
