# DINO-4scale 12-epoch recipe of FasterViT's released detector: mmdet's DINO (two-stage query
# selection over 900 queries, box refinement, contrastive denoising with 100 queries, 6 + 6
# deformable layers, 256 wide), the model of IDEA-Research's DINO that the authors trained in
# their fork. The backbone gives strides 8/16/32 (`out_indices=(1, 2, 3)`); ChannelMapper maps
# them to 256 channels and adds a stride-64 level (4 scales). COCO under data/coco/.
#
# Source: NVlabs/FasterViT @22154cc downstream/object_detection/dino/
#   config/DINO/DINO_4scale_faster_vit_*.py (and coco_transformer.py) and models/dino/:
#   - AdamW lr 1e-4, backbone 1e-5, weight decay 1e-4 on every parameter, gradient clipping
#     at 0.1, 12 epochs with the rate divided by 10 after epoch 11, 2 images per GPU;
#   - augmentation: flip, then either a resize of the shorter side to 480-800 (step 32, longer
#     at most 1333) or a resize to 400/500/600, a random 384-600 crop and the same resize;
#     testing at shorter side 800 (longer at most 1333), top 300 (query, class) pairs;
#   - denoising: box noise 0.4 (mmdet's default is 1.0), label noise 0.5;
#   - input projections: conv with a bias + GroupNorm(32) (ChannelMapper `bias=True`);
#   - the dense backbone: fresh BatchNorm output norms, drop path 0.1, no carrier propagation,
#     each stage's map zero-padded to whole windows with the padded tokens taking part
#     (`window_padding='zeros'`), window position MLPs of coordinates scaled by the window's
#     token count (`grid_scale='tokens'`) where the classifier scales each axis to [-1, 1].
# Differences:
#   - 80 class rows in mmdet's class order instead of IDEA's 91 rows by category id (the
#     converter takes the 80 rows of the released weights), and one class layer / box MLP per
#     decoder layer instead of one shared by all six (the same function for converted weights;
#     trained apart when fine-tuning here).
#   - float32 unless `--amp`.
#   - IDEA rounds a resized side down, mmdet to the nearest pixel: a resized image can differ
#     by one pixel.
# The learning rate is for 16 images per step (8 GPUs x 2); `--auto-scale-lr` rescales it.
_base_ = ['mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py']
custom_imports = dict(imports=['mmvitplug'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='FasterViT',
        out_indices=(1, 2, 3),
        out_norms='BN',
        window_padding='zeros',
        grid_scale='tokens',
        do_propagation=False,
        drop_path_rate=0.1),
    neck=dict(bias=True),
    dn_cfg=dict(box_noise_scale=0.4))
