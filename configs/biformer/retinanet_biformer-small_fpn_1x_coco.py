# RetinaNet 1x (FPN) with BiFormer-S on COCO: the authors' released recipe (45.9 box AP).
#   python tools/model_converters/biformer_to_mmvitplug.py biformer_small_best.pth \
#       checkpoints/biformer-small_in1k.pth
#   python tools/train.py configs/biformer/retinanet_biformer-small_fpn_1x_coco.py --amp \
#       --cfg-options optim_wrapper.loss_scale=512.
# Source: rayleizhu/BiFormer object_detection/configs/coco/retinanet.1x.biformer_small.py and its
# _base_ (models/retinanet_r50_fpn, datasets/coco_detection, schedules/schedule_1x), backbone
# object_detection/models_mm/biformer_mm.py (BiFormer_mm, norm_eval=True by default): 16x16
# regions (n_win=16), drop path 0.2, fresh LayerNorm output norms, BatchNorm in eval mode,
# AdamW 1e-4 with weight decay 1e-4 on every parameter, 12 epochs, 2 images x 8 GPUs.
# Differences:
#   - float32 unless `--amp`: the authors trained in fp16 with a static loss scale of 512
#     (`fp16 = dict(loss_scale=512.0)`); the command above gives theirs.
#   - the backbone outputs strides 8-32 only (see the recipe): the same FPN without the
#     authors' unused stride-4 norm, so no `find_unused_parameters`.
_base_ = ['../_base_/recipes/retinanet_fpn_1x_coco.py']

model = dict(
    backbone=dict(
        type='BiFormer',
        arch='small',
        n_win=16,
        drop_path_rate=0.2,
        out_norms='LN',
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/biformer-small_in1k.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[128, 256, 512]))
