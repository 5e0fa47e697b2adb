"""Pure-PyTorch building blocks of the backbones (no registries)."""
from .attention import BiasedSelfAttention, Mlp
from .bra import (BiLevelRoutingAttention, GlobalAttentionLePE, gather_all_routed_attention,
                  region_grid, routed_attention)
from .conv_ffn import ConvFFN
from .fused import conv_bn_act
from .hat import CarrierTokenAttention, CarrierTokenInit, HATBlock, carrier_pooling
from .hilo import HiLoAttention
from .norm import LayerNorm2d
from .position import AbsolutePositionMLP, RelativePositionBias
from .token_merging import DeformableTokenMerging, deform_conv2d_2x2
from .window import pad_to_multiple, window_partition, window_reverse

__all__ = [
    'AbsolutePositionMLP', 'BiLevelRoutingAttention', 'BiasedSelfAttention',
    'CarrierTokenAttention', 'CarrierTokenInit', 'ConvFFN', 'DeformableTokenMerging',
    'GlobalAttentionLePE', 'HATBlock', 'HiLoAttention', 'LayerNorm2d', 'Mlp',
    'RelativePositionBias', 'carrier_pooling', 'conv_bn_act', 'deform_conv2d_2x2',
    'gather_all_routed_attention', 'pad_to_multiple', 'region_grid', 'routed_attention',
    'window_partition', 'window_reverse'
]
