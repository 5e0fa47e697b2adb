"""Registered backbones, one family per module (FasterViT, BiFormer, LITv2)."""
from .litv2 import LITv2

__all__ = ['LITv2']
