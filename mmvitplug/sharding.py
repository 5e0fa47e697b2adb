"""Sharded training (FSDP) of the large variants through mmengine's ``FlexibleRunner``.

FasterViT-4/5/6 hold 0.4-1.4 B parameters; with data parallelism every process keeps all of them,
their gradients and two AdamW/Lamb moments (16 bytes per parameter in float32). FSDP keeps
1/N of each on each of N processes and gathers one unit's parameters only while it runs. The
unit is one backbone block (:func:`block_wrap_policy`): small enough that a gathered unit
costs little memory, large enough that the gathers are few. ``configs/_base_/recipes/fsdp.py``
puts this together; its configs name the strategy and the policy by their import paths::

    strategy = dict(type='mmvitplug.sharding.FSDPStrategy',
                    model_wrapper=dict(auto_wrap_policy=dict(
                        type='mmvitplug.sharding.block_wrap_policy')))
"""
import torch.nn as nn
from mmengine._strategy import FSDPStrategy as MMEngineFSDPStrategy
from torch.distributed.fsdp import FullyShardedDataParallel

__all__ = ['FSDPStrategy', 'block_wrap_policy', 'is_block']


class FSDPStrategy(MMEngineFSDPStrategy):
    """mmengine 0.10's ``FSDPStrategy`` whose resume loads the optimizer state: it calls torch's
    ``FullyShardedDataParallel.optim_state_dict_to_load`` with the arguments in torch 1.13's
    order, which torch 2 takes as ``(model, optim, optim_state_dict)``, so every resume of a
    sharded run failed."""

    def load_optim_state_dict(self, state_dict: dict) -> None:
        state = FullyShardedDataParallel.optim_state_dict_to_load(
            model=self.model, optim=self.optim_wrapper.optimizer, optim_state_dict=state_dict)
        self.optim_wrapper.load_state_dict(state)


def is_block(module: nn.Module) -> bool:
    """Whether ``module`` is an entry of a stage's ``blocks`` in one of the three backbones
    (FasterViT's carrier-token attention, a block-like part that runs inside a HAT block, is
    not: it belongs to that block's unit)."""
    from .models.backbones.fastervit import ConvBlock
    from .models.layers.block import TransformerBlock
    from .models.layers.hat import CarrierTokenAttention
    return (isinstance(module, (TransformerBlock, ConvBlock))
            and not isinstance(module, CarrierTokenAttention))


def block_wrap_policy(module: nn.Module, recurse: bool, nonwrapped_numel: int,
                      min_num_params: int = 0) -> bool:
    """FSDP auto-wrap policy: each backbone block with at least ``min_num_params`` parameters
    is one unit; everything else (stems, downsampling, necks, heads) stays in the root unit.

    The signature is torch's (``torch.distributed.fsdp.wrap``): asked with ``recurse=True``
    whether to look inside ``module``, and with ``recurse=False`` whether to wrap it.
    """
    return recurse or (is_block(module) and nonwrapped_numel >= min_num_params)
