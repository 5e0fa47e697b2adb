"""Registered backbones, one family per module (FasterViT, BiFormer, LITv2)."""
from .biformer import BiFormer
from .fastervit import FasterViT
from .litv2 import LITv2

__all__ = ['BiFormer', 'FasterViT', 'LITv2']
