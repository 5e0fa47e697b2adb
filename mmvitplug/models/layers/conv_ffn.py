"""Feed-forward network with a depthwise 3x3 convolution between its two linear layers."""
import torch
import torch.nn as nn


class ConvFFN(nn.Module):
    """Linear -> depthwise 3x3 conv -> GELU -> Linear, on channels-last maps.

    The depthwise convolution is LITv2's only source of position information.

    Args:
        dim: input and output channels.
        hidden_dim: channels between the two linear layers.
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1, groups=hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, C) -> (B, H, W, C)."""
        x = self.fc1(x)
        x = self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.fc2(self.act(x))
