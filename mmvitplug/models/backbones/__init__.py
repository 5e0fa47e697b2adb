"""Registered backbones, one family per module (FasterViT, BiFormer, LITv2)."""

__all__: list = []
