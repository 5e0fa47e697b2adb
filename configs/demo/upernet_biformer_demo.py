# upernet_demo.py with BiFormer-T (8x8 regions per map, as the authors' ADE20K setting).
#   python tools/train.py configs/demo/upernet_biformer_demo.py
_base_ = ['./upernet_demo.py']

model = dict(
    backbone=dict(_delete_=True, type='BiFormer', arch='tiny', n_win=8, drop_path_rate=0.1))
