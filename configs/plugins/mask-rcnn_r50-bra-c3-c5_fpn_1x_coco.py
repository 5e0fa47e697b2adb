# Mask R-CNN R-50 FPN 1x on COCO with bi-level routing attention (BiFormer's BRA) plug-ins after
# conv2 of every bottleneck of stages c3-c5 (the placement of mmdet's empirical-attention
# configs).
#   python tools/train.py configs/plugins/mask-rcnn_r50-bra-c3-c5_fpn_1x_coco.py
# The ImageNet ResNet-50 loads as before and the plug-ins start as the identity (zero residual
# scale), so training starts from the pretrained network. In your own config: the same
# custom_imports and backbone.plugins on top of any mmdet ResNet config.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmvitplug'], allow_failed_imports=False)

# BRA regions per side: the authors' policy for COCO.
model = dict(
    backbone=dict(plugins=[
        dict(cfg=dict(type='BiLevelRoutingAttention2d', n_win=16), stages=(False, True, True, True),
             position='after_conv2')
    ]))
