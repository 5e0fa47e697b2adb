# FasterViT-6's ImageNet-1K recipe (fastervit-6_32xb128_in1k.py) sharded with FSDP over the
# processes (configs/_base_/recipes/fsdp.py: one unit per backbone block) and with gradient
# checkpointing (with_cp): a training step's memory per GPU is in
# benchmarks/training_memory.md.
#   bash tools/dist_train.sh configs/fastervit/fastervit-6_32xb128-fsdp_in1k.py 8 --amp
# The EMA of the unsharded recipe is left out: mmengine 0.10's EMAHook keeps a deep copy of the
# wrapped model and averages its parameters, which under FSDP are this process's shards.
_base_ = ['./fastervit-6_32xb128_in1k.py', '../_base_/recipes/fsdp.py']

model = dict(backbone=dict(with_cp=True))
custom_hooks = []
