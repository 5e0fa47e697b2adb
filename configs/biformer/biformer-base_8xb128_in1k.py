# BiFormer-B on ImageNet-1K, recipe as biformer-tiny_8xb128_in1k.py; drop path 0.4 (the arch
# default).
# Released weights: 84.3 top-1.
_base_ = ['./biformer-tiny_8xb128_in1k.py']

model = dict(backbone=dict(arch='base'), head=dict(in_channels=768))
