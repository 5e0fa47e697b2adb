# DINO-4scale 12e with FasterViT-4-21K-224 on COCO: the authors' released detector (55.16 box AP,
# DINO_4scale_faster_vit_4_21k_224_ms_coco.pth on the authors' Hugging Face page) and its recipe
# (NVlabs/FasterViT @22154cc downstream/object_detection/dino/config/DINO/
# DINO_4scale_faster_vit_4_21k_224.py, backbone 'faster_vit_4_21k_224' of
# models/dino/fastervit.py: window attention only, windows 14 and 7 in the attention stages 3-4,
# layer scale 1e-5). See the recipe for the settings and differences.
#   Evaluate the released weights:
#     python tools/model_converters/fastervit_to_mmvitplug.py \
#         DINO_4scale_faster_vit_4_21k_224_ms_coco.pth \
#         checkpoints/dino-4scale_fastervit-4-21k-224_8xb2-12e_coco.pth
#     python tools/test.py configs/fastervit/dino-4scale_fastervit-4-21k-224_8xb2-12e_coco.py \
#         checkpoints/dino-4scale_fastervit-4-21k-224_8xb2-12e_coco.pth
#   Train: the ImageNet-21K weights (fastervit_4_21k_224_w14.pth.tar) are downloaded and
#   converted on first use.
_base_ = ['../_base_/recipes/dino_4scale_12e_coco.py']

model = dict(
    backbone=dict(
        arch='4_21k_224',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://huggingface.co/ahatamiz/FasterViT/resolve/main/'
            'fastervit_4_21k_224_w14.pth.tar',
            prefix='backbone.')),
    neck=dict(in_channels=[392, 784, 1568]))
