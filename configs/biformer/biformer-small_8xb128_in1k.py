# BiFormer-S on ImageNet-1K, recipe as biformer-tiny_8xb128_in1k.py; drop path 0.15 (the arch
# default, the README's command). The README's example run of BiFormer-S used 2 nodes (2048 images at
# lr 2e-3), the same rate per image as 1e-3 for 1024. Released weights: 83.8 top-1.
_base_ = ['./biformer-tiny_8xb128_in1k.py']

model = dict(backbone=dict(arch='small'))
