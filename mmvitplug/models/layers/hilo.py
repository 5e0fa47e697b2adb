"""HiLo attention (LITv2): high-frequency heads attend inside windows, low-frequency heads attend
to average-pooled keys and values."""
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fused import Linear
from .geometry import crop, query_weights
from .window import pad_to_multiple, window_partition, window_reverse


class HiLoMaps(NamedTuple):
    """What one query token attends to in :class:`HiLoAttention` (:meth:`~HiLoAttention.maps`).

    Attributes:
        window: (top, left, size) of the query's Hi-Fi window, in tokens of the padded map.
        hifi: (B, Hi-Fi heads, size, size) attention over that window's tokens; None without
            Hi-Fi heads.
        lofi: (B, Lo-Fi heads, H', W') attention over the average-pooled map (``H' = Hp /
            window_size``; the map itself for ``window_size`` 1); None without Lo-Fi heads.
    """
    window: Tuple[int, int, int]
    hifi: Optional[torch.Tensor]
    lofi: Optional[torch.Tensor]


class HiLoAttention(nn.Module):
    """HiLo attention on channels-last maps of any size.

    ``int(num_heads * alpha)`` Lo-Fi heads attend from every position to keys/values computed from
    the ``window_size``-average-pooled map; the other (Hi-Fi) heads attend within non-overlapping
    ``window_size`` windows. Outputs are concatenated as [Hi-Fi, Lo-Fi], each branch with its own
    output projection. ``window_size == 1`` means plain global attention (all heads Lo-Fi, no
    pooling), as in the released models' last stage.

    Maps whose sides are not multiples of ``window_size`` are zero-padded on the right/bottom after
    normalisation and cropped after attention; padded keys are not masked (the released detection
    and segmentation behaviour).

    Args:
        dim: channels.
        num_heads: attention heads; the head dim is ``dim // num_heads``.
        window_size: Hi-Fi window side and Lo-Fi pooling size.
        alpha: fraction of heads in the Lo-Fi branch (0 and 1 are valid).
        qkv_bias: bias of the query/key/value projections.

    The attention scale is ``head_dim ** -0.5``, applied to the q.k products.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int = 2, alpha: float = 0.9,
                 qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        if window_size < 1:
            raise ValueError(f'window_size must be >= 1, got {window_size}')
        head_dim = dim // num_heads
        self.window_size = window_size
        self.head_dim = head_dim
        self.scale = head_dim**-0.5
        lofi_heads = num_heads if window_size == 1 else int(num_heads * alpha)
        self.lofi_heads = lofi_heads
        self.hifi_heads = num_heads - lofi_heads
        if self.lofi_heads:
            lofi_dim = lofi_heads * head_dim
            self.lofi_q = Linear(dim, lofi_dim, bias=qkv_bias)
            self.lofi_kv = Linear(dim, 2 * lofi_dim, bias=qkv_bias)
            self.lofi_proj = Linear(lofi_dim, lofi_dim)
        if self.hifi_heads:
            hifi_dim = self.hifi_heads * head_dim
            self.hifi_qkv = Linear(dim, 3 * hifi_dim, bias=qkv_bias)
            self.hifi_proj = Linear(hifi_dim, hifi_dim)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, scale=self.scale)

    def _hifi(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        ws, heads = self.window_size, self.hifi_heads
        windows = window_partition(x, ws)  # (B, nW, ws*ws, C)
        n_win = windows.shape[1]
        # Windows of all images as one batch: 4-D attention (what the ONNX converters know).
        qkv = self.hifi_qkv(windows).view(b * n_win, ws * ws, 3, heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B * nW, heads, ws*ws, hd)
        out = self._attend(q, k, v).transpose(1, 2).reshape(b, n_win, ws * ws, -1)
        return self.hifi_proj(window_reverse(out, ws, (h, w)))

    def _lofi(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        heads = self.lofi_heads
        q = self.lofi_q(x).view(b, h * w, heads, self.head_dim).transpose(1, 2)
        if self.window_size > 1:
            pooled = F.avg_pool2d(x.permute(0, 3, 1, 2), self.window_size)
            x = pooled.permute(0, 2, 3, 1)
        kv = self.lofi_kv(x).view(b, -1, 2, heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = self._attend(q, kv[0], kv[1]).transpose(1, 2).reshape(b, h, w, -1)
        return self.lofi_proj(out)

    def maps(self, x: torch.Tensor, query: Tuple[int, int],
             norm: Optional[nn.Module] = None) -> HiLoMaps:
        """The attention weights of the token at ``query`` (row, column) of ``x`` in both
        branches, on the arguments :meth:`forward` takes (for inspection: the fused forward
        never materialises them)."""
        if norm is not None:
            x = norm(x)
        x = pad_to_multiple(x, self.window_size)
        b, _, _, c = x.shape
        ws, hd = self.window_size, self.head_dim
        top, left = (q // ws * ws for q in query)
        hifi = lofi = None
        if self.hifi_heads:
            window = x[:, top:top + ws, left:left + ws].reshape(b, ws * ws, c)
            qkv = self.hifi_qkv(window).view(b, ws * ws, 3, self.hifi_heads, hd)
            within = (query[0] - top) * ws + query[1] - left
            hifi = query_weights(qkv[:, within, 0], qkv[:, :, 1], self.scale).view(b, -1, ws, ws)
        if self.lofi_heads:
            q = self.lofi_q(x[:, query[0], query[1]]).view(b, self.lofi_heads, hd)
            if ws > 1:
                x = F.avg_pool2d(x.permute(0, 3, 1, 2), ws).permute(0, 2, 3, 1)
            keys = self.lofi_kv(x)[..., :self.lofi_heads * hd]
            lofi = query_weights(q, keys.reshape(b, -1, self.lofi_heads, hd), self.scale)
            lofi = lofi.view(b, -1, *x.shape[1:3])
        return HiLoMaps((top, left, ws), hifi, lofi)

    def forward(self, x: torch.Tensor, norm: Optional[nn.Module] = None) -> torch.Tensor:
        """x: (B, H, W, C) -> (B, H, W, C); ``norm``, if given, is applied to ``x`` first (the
        block's pre-norm: the padding comes after it)."""
        if norm is not None:
            x = norm(x)
        _, h, w, _ = x.shape
        x = pad_to_multiple(x, self.window_size)
        if not self.lofi_heads:
            out = self._hifi(x)
        elif not self.hifi_heads:
            out = self._lofi(x)
        else:
            out = torch.cat([self._hifi(x), self._lofi(x)], dim=-1)
        return crop(out, h, w)
