"""Pure-PyTorch building blocks of the backbones (no registries)."""
from .conv_ffn import ConvFFN
from .hilo import HiLoAttention
from .token_merging import DeformableTokenMerging, deform_conv2d_2x2
from .window import pad_to_multiple, window_partition, window_reverse

__all__ = [
    'ConvFFN', 'DeformableTokenMerging', 'HiLoAttention', 'deform_conv2d_2x2', 'pad_to_multiple',
    'window_partition', 'window_reverse'
]
