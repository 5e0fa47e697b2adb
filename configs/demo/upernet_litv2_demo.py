# upernet_demo.py with LITv2-S.
#   python tools/train.py configs/demo/upernet_litv2_demo.py
_base_ = ['./upernet_demo.py']

model = dict(
    backbone=dict(_delete_=True, type='LITv2', arch='s', drop_path_rate=0.1),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
