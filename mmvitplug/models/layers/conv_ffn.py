"""Feed-forward network with a depthwise 3x3 convolution between its two linear layers."""
import torch
import torch.nn as nn

from .mlp import Mlp


class ConvFFN(Mlp):
    """Linear -> depthwise 3x3 conv -> GELU -> Linear, on (B, H, W, C) maps.

    LITv2's FFN, where the depthwise convolution is the model's only source of position
    information, and BiFormer's MLP with the authors' ``mlp_dwconv=True``.

    Args:
        dim: input and output channels.
        hidden_dim: channels between the two linear layers.
    """

    #: The depthwise conv mixes neighbouring tokens: the FFN needs the whole map at once.
    token_wise = False

    def _make_hidden_layers(self, hidden_dim: int) -> None:
        self.dwconv = nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1, groups=hidden_dim)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
