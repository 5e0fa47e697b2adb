# DINO-4scale 12e with FasterViT-4 on COCO: the authors' recipe
# (NVlabs/FasterViT @22154cc downstream/object_detection/dino/config/DINO/
# DINO_4scale_faster_vit_4_224.py, backbone 'faster_vit_4_224' of models/dino/fastervit.py);
# the authors released no weights for it. See the recipe for the settings and differences.
#   The ImageNet weights (fastervit_4_224_1k.pth.tar, the authors' Hugging Face page) are downloaded and
#   converted on first use.
#   python tools/train.py configs/fastervit/dino-4scale_fastervit-4_8xb2-12e_coco.py
# Its stage-3 carrier tokens are mmvitplug's (those of the authors' classifier); the authors'
# DINO code computes them differently (see configs/fastervit/README.md), which matters only for
# weights trained there.
_base_ = ['../_base_/recipes/dino_4scale_12e_coco.py']

model = dict(
    backbone=dict(
        arch='4',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://huggingface.co/ahatamiz/FasterViT/resolve/main/fastervit_4_224_1k.pth.tar',
            prefix='backbone.')),
    neck=dict(in_channels=[392, 784, 1568]))
