# LITv2-B on ImageNet-1K, recipe as litv2-s_8xb128_in1k.py with drop path 0.5. Released weights:
# 83.6 top-1.
_base_ = ['./litv2-s_8xb128_in1k.py']

model = dict(backbone=dict(arch='b', drop_path_rate=0.5), head=dict(in_channels=1024))
