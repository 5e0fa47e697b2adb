# UPerNet R-50 on ADE20K (512x512 crops, 160k iterations) with HiLo attention (LITv2) plug-ins
# after conv2 of every bottleneck of stages c3-c5.
#   python tools/train.py \
#       configs/plugins/upernet_r50-hilo-c3-c5_4xb4-160k_ade20k-512x512.py
# The ImageNet ResNet-50-V1c loads as before and the plug-ins start as the identity.
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmvitplug'], allow_failed_imports=False)

model = dict(
    backbone=dict(plugins=[
        dict(cfg=dict(type='HiLoAttention2d'), stages=(False, True, True, True),
             position='after_conv2')
    ]))
