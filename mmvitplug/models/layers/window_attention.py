"""FasterViT's window attention: multi-head self-attention over the tokens of a window with a
continuous relative position bias (CPB), behind the window's carrier tokens."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from .attention import default_scale, scaled_dot_product_attention
from .fused import Linear
from .geometry import merge_heads
from .inspection import attention_weights
from .position import RelativePositionBias


class CPBWindowAttention(nn.Module):
    """Self-attention within groups of tokens laid out on an h x w grid (windows, or the whole
    carrier grid), with :class:`RelativePositionBias` (the continuous position bias) on the grid
    part, optionally behind prefix tokens (the window's carrier tokens, which get zero bias).

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
        self.scale = default_scale(dim // num_heads)
        self.qkv = Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = Linear(dim, dim)
        self.pos_bias = RelativePositionBias(num_heads)

    def forward(self, x: torch.Tensor, size: Tuple[int, int], num_prefix: int = 0,
                key_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            x: (G, num_prefix + h*w, C), one group (window) per row.
            size: (h, w) of the grid part.
            num_prefix: tokens in front of the grid (zero position bias).
            key_mask: optional (g, num_prefix + h*w) bool, False for keys to ignore; g divides
                G and row ``i`` applies to groups ``i, i + g, ...`` (windows of each image).

        Returns:
            (G, num_prefix + h*w, C).
        """
        q, k, v, bias = self._qkv_bias(x, size, num_prefix, key_mask)
        out = scaled_dot_product_attention(q, k, v, self.scale, bias)
        return self.proj(merge_heads(out))

    def attention_probs(self, x: torch.Tensor, size: Tuple[int, int], num_prefix: int = 0,
                        key_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The attention weights of :meth:`forward` on the same arguments, (G, heads, L, L)
        with ``L = num_prefix + h*w`` (rows: queries, columns: keys; for inspection, the fused
        forward never materialises them)."""
        q, k, _, bias = self._qkv_bias(x, size, num_prefix, key_mask)
        return attention_weights(q, k, q.shape[-1]**-0.5, bias)

    def _qkv_bias(self, x: torch.Tensor, size: Tuple[int, int], num_prefix: int,
                  key_mask: Optional[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Per-head queries, keys, values (G, heads, L, head_dim) and the additive logit bias
        (position bias, -inf at masked keys) of :meth:`forward`."""
        groups, length, dim = x.shape
        qkv = self.qkv(x).view(groups, length, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        # A 4-D mask keeps SDPA on its fused CPU kernel (a 3-D one falls back to plain math).
        bias = self.pos_bias(size, num_prefix).to(q.dtype).unsqueeze(0)
        if key_mask is not None:
            blocked = torch.zeros(key_mask.shape, dtype=q.dtype, device=q.device)
            blocked.masked_fill_(~key_mask, float('-inf'))
            bias = (bias + blocked[:, None, None, :]).repeat(groups // key_mask.shape[0], 1, 1, 1)
        return q, k, v, bias
