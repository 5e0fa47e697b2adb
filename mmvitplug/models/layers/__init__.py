"""Pure-PyTorch building blocks of the backbones (no registries), one idea per module."""
from .block import TransformerBlock
from .bra import BiLevelRoutingAttention, GlobalAttentionLePE, region_grid, routed_attention
from .conv_ffn import ConvFFN
from .drop import calculate_drop_path_rates
from .fused import conv_bn_act
from .geometry import clear_caches
from .hat import CarrierTokenAttention, CarrierTokenInit, HATBlock, carrier_pooling
from .hilo import HiLoAttention
from .init import init_transformer_weights
from .mlp import Mlp
from .norm import LayerNorm2d
from .position import AbsolutePositionMLP, RelativePositionBias
from .switches import fast_paths, fast_paths_enabled, inference_fast_path, set_fast_paths
from .token_merging import DeformableTokenMerging, deform_conv2d_2x2
from .window import pad_to_multiple, window_partition, window_reverse
from .window_attention import CPBWindowAttention

__all__ = [
    'AbsolutePositionMLP', 'BiLevelRoutingAttention', 'CPBWindowAttention',
    'CarrierTokenAttention', 'CarrierTokenInit', 'ConvFFN', 'DeformableTokenMerging',
    'GlobalAttentionLePE', 'HATBlock', 'HiLoAttention', 'LayerNorm2d', 'Mlp',
    'RelativePositionBias', 'TransformerBlock', 'calculate_drop_path_rates', 'carrier_pooling',
    'clear_caches', 'conv_bn_act', 'deform_conv2d_2x2', 'fast_paths', 'fast_paths_enabled',
    'inference_fast_path', 'init_transformer_weights', 'pad_to_multiple', 'region_grid',
    'routed_attention', 'set_fast_paths', 'window_partition', 'window_reverse'
]
