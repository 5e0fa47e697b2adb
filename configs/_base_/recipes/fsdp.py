# Sharded data-parallel training (FSDP) through mmengine's FlexibleRunner, for the variants
# whose parameters, gradients and optimizer moments do not fit one device beside the
# activations (benchmarks/training_memory.md). Add it to a config's _base_ and train with
#   bash tools/dist_train.sh CONFIG NUM_GPUS [--amp]
# Each backbone block is one FSDP unit (mmvitplug.sharding.block_wrap_policy); the backbone's
# with_cp recomputes each block's activations in the backward pass (the configs of the giant
# variants set it). use_orig_params keeps the parameters' names for the optimizer constructors
# (layer decay, no weight decay on norms and position tables). Checkpoints hold the whole model
# and optimizer as a single-process run writes them (state_dict_cfg='full', gathered on rank 0),
# so tools/test.py, init_model/init_detector and --resume read them.
# On CPUs (torchrun without GPUs) tools/train.py runs the same strategy over gloo.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='mmvitplug.sharding.FSDPStrategy',  # mmengine's, with its resume fixed for torch 2
    model_wrapper=dict(
        auto_wrap_policy=dict(type='mmvitplug.sharding.block_wrap_policy'),
        use_orig_params=True),
    state_dict_cfg='full')
