# RetinaNet 1x (FPN) with BiFormer-B on COCO: the authors' released recipe (47.1 box AP).
#   python tools/model_converters/biformer_to_mmvitplug.py biformer_base_best.pth \
#       checkpoints/biformer-base_in1k.pth
# Source: rayleizhu/BiFormer object_detection/configs/coco/retinanet.1x.biformer_base.py, which
# differs from the small one only in the widths and drop path 0.3; the rest (and the
# differences) as retinanet_biformer-small_fpn_1x_coco.py.
_base_ = ['./retinanet_biformer-small_fpn_1x_coco.py']

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/biformer-base_in1k.pth')),
    neck=dict(in_channels=[192, 384, 768]))
