# Cascade Mask R-CNN 3x with FasterViT-4 (cascade-mask-rcnn_fastervit-4_fpn_ms-crop-3x_coco.py:
# 423 M parameters) sharded with FSDP over the processes (configs/_base_/recipes/fsdp.py: one
# unit per backbone block; the neck and heads stay whole) and with gradient checkpointing
# (with_cp).
#   bash tools/dist_train.sh \
#       configs/fastervit/cascade-mask-rcnn_fastervit-4_fpn_fsdp-ms-crop-3x_coco.py 8 --amp
_base_ = ['./cascade-mask-rcnn_fastervit-4_fpn_ms-crop-3x_coco.py', '../_base_/recipes/fsdp.py']

model = dict(backbone=dict(with_cp=True))
