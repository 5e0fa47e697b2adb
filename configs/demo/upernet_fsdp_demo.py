# The demo UPerNet (upernet_demo.py) trained sharded: mmengine's FlexibleRunner with FSDP, the
# recipe the giant variants use (configs/_base_/recipes/fsdp.py), at a size two CPU processes
# train in a minute or two over gloo:
#   python tools/make_demo_data.py
#   bash tools/dist_train.sh configs/demo/upernet_fsdp_demo.py 2
#   bash tools/dist_train.sh configs/demo/upernet_fsdp_demo.py 2 --resume
#   python tools/test.py configs/demo/upernet_fsdp_demo.py work_dirs/upernet_fsdp_demo/iter_40.pth
# Every block of the backbone is its own FSDP unit (its parameters are gathered only while it
# runs); checkpoints hold the whole model, as a single-process run writes them, so tools/test.py
# and init_model read them in one process.
_base_ = ['./upernet_demo.py', '../_base_/recipes/fsdp.py']

model = dict(backbone=dict(with_cp=True))  # as the giant variants' configs

max_iters = 40
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=10, end=max_iters, by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=20, max_keep_ckpts=1))
