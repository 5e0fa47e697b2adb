"""LayerNorm over the channels of an NCHW map, and the pre-norm the attention layers apply."""
from typing import Optional

import torch
import torch.nn as nn


class LayerNorm2d(nn.LayerNorm):
    """``nn.LayerNorm(num_channels)`` applied to (B, C, H, W) maps.

    The permutes are views; on a channels-last tensor the normalisation reads contiguous rows.
    Same state_dict keys as ``nn.LayerNorm``, so checkpoints of either load into the other.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def pre_norm(x: torch.Tensor, norm: Optional[nn.Module]) -> torch.Tensor:
    """``norm(x)``, or ``x`` where ``norm`` is None: the block's pre-norm, which the attention
    layers apply themselves (:class:`~mmvitplug.models.layers.block.TransformerBlock` hands it
    to them, so that they own the normalised map)."""
    return x if norm is None else norm(x)
