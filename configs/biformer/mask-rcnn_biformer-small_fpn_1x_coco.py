# Mask R-CNN 1x (FPN) with BiFormer-S on COCO: the authors' released recipe (47.8 box AP).
#   python tools/model_converters/biformer_to_mmvitplug.py biformer_small_best.pth \
#       checkpoints/biformer-small_in1k.pth
#   python tools/train.py configs/biformer/mask-rcnn_biformer-small_fpn_1x_coco.py --amp \
#       --cfg-options optim_wrapper.loss_scale=512.
# Source: rayleizhu/BiFormer object_detection/configs/coco/maskrcnn.1x.biformer_small.py and its
# _base_ (models/mask_rcnn_r50_fpn, datasets/coco_instance, schedules/schedule_1x), backbone
# object_detection/models_mm/biformer_mm.py (BiFormer_mm): 16x16 regions (n_win=16), drop path
# 0.2, four fresh LayerNorm output norms, BatchNorm in eval mode (norm_eval), AdamW 1e-4 with
# weight decay 0.05 except 'norm' parameters, 12 epochs, 2 images x 8 GPUs.
# Differences:
#   - float32 unless `--amp`: the authors trained in fp16 with a static loss scale of 512
#     (mmcv Fp16OptimizerHook); mmengine's AmpOptimWrapper needs a GPU to build, so the command
#     above gives theirs.
#   - their custom_keys also name absolute_pos_embed and relative_position_bias_table, which
#     match no BiFormer parameter; only 'norm' (from the recipe) is kept.
_base_ = ['../_base_/recipes/mask_rcnn_fpn_1x_coco.py']

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
    neck=dict(in_channels=[64, 128, 256, 512]))
