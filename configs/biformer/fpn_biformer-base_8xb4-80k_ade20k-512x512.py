# Semantic FPN 80k with BiFormer-B on ADE20K, 512x512 crops: the authors' released recipe
# (49.9 mIoU).
#   python tools/model_converters/biformer_to_mmvitplug.py biformer_base_best.pth \
#       checkpoints/biformer-base_in1k.pth
# Source: rayleizhu/BiFormer semantic_segmentation/configs/ade20k/sfpn.biformer_base.py, which
# differs from the small one only in the widths and drop path 0.3; the rest (and the
# differences) as fpn_biformer-small_8xb4-80k_ade20k-512x512.py.
_base_ = ['./fpn_biformer-small_8xb4-80k_ade20k-512x512.py']

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/biformer-base_in1k.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
