# BiFormer-S on ImageNet-1K, recipe as biformer-tiny_in1k.py; drop path 0.15 (the arch default).
# Released weights: 83.8 top-1.
_base_ = ['./biformer-tiny_in1k.py']

model = dict(backbone=dict(arch='small'))
