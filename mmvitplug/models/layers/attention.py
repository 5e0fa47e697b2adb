"""Multi-head self-attention with a continuous relative position bias, and the transformer MLP."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .position import RelativePositionBias


class Mlp(nn.Module):
    """Linear -> GELU -> Linear on the last dimension."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class BiasedSelfAttention(nn.Module):
    """Self-attention within token groups laid out on an h x w grid, optionally behind extra
    prefix tokens (carrier tokens), with :class:`RelativePositionBias` on the grid part.

    Args:
        dim: token channels.
        num_heads: attention heads (``dim // num_heads`` channels each, scale ``head_dim**-0.5``).
        qkv_bias: bias of the fused q/k/v projection.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.pos_bias = RelativePositionBias(num_heads)

    def forward(self, x: torch.Tensor, size: Tuple[int, int], num_prefix: int = 0) -> torch.Tensor:
        """x: (G, num_prefix + h*w, C), one group (window) per row -> same shape."""
        groups, length, dim = x.shape
        qkv = self.qkv(x).view(groups, length, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        bias = self.pos_bias(size, num_prefix).to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(groups, length, dim))
