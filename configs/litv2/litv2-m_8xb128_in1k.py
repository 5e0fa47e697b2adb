# LITv2-M on ImageNet-1K, recipe as litv2-s_8xb128_in1k.py with drop path 0.3. Released weights:
# 83.3 top-1.
_base_ = ['./litv2-s_8xb128_in1k.py']

model = dict(backbone=dict(arch='m', drop_path_rate=0.3))
