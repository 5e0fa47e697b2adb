# RetinaNet 1x recipe of the configs that reproduce the papers' COCO results: mmdet's RetinaNet
# (FPN from stride 8 with two extra levels on the last input, focal loss; the mmdet 2.x model the
# BiFormer and LITv2 authors inherit), single-scale 1333x800 training with flips, 12 epochs with
# steps at 8 and 11 after a 500-iteration linear warm-up from 1e-3 of the rate, COCO under
# data/coco/. AdamW 1e-4, betas (0.9, 0.999), weight decay 1e-4 on every parameter (both
# families' RetinaNet configs). Family configs set `backbone` (type, arch, options, pretrained
# init_cfg) and `neck.in_channels`.
#
# The backbone gives the three maps the FPN uses (strides 8/16/32, `out_indices=(1, 2, 3)`,
# FPN `start_level=0`), as mmdet's Swin RetinaNet: the authors' backbones also output stride 4
# and their FPN skips it (`start_level=1`), which builds the same FPN and leaves an unused output
# norm (their BiFormer configs need `find_unused_parameters=True` for it).
#
# float32 by default; `python tools/train.py CONFIG --amp` trains in mixed precision (GPUs).
# The learning rate is for 16 images per step (8 GPUs x 2); `--auto-scale-lr` rescales it.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmvitplug'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, out_indices=(1, 2, 3)),
    neck=dict(start_level=0))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4))
