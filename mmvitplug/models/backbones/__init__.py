"""Registered backbones, one family per module (FasterViT, BiFormer, LITv2)."""
from .fastervit import FasterViT
from .litv2 import LITv2

__all__ = ['FasterViT', 'LITv2']
