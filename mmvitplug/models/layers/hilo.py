"""HiLo attention (LITv2): high-frequency heads attend inside windows, low-frequency heads attend
to average-pooled keys and values."""
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import scaled_dot_product_attention
from .fused import Linear
from .geometry import crop
from .inspection import attention_weights
from .norm import pre_norm
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
        return scaled_dot_product_attention(q, k, v, self.scale)

    def _hifi_qkv(self, windows: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Hi-Fi queries, keys and values (B * nW, heads, ws*ws, head_dim) of (B, nW, ws*ws, C)
        windows: the windows of all images as one batch, so attention is 4-D (what the ONNX
        converters know)."""
        b, n_win, length, _ = windows.shape
        qkv = self.hifi_qkv(windows).view(b * n_win, length, 3, self.hifi_heads, self.head_dim)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)

    def _lofi_queries(self, x: torch.Tensor) -> torch.Tensor:
        """Lo-Fi queries (B, heads, H*W, head_dim) of a (B, H, W, C) map."""
        b, h, w, _ = x.shape
        return self.lofi_q(x).view(b, h * w, self.lofi_heads, self.head_dim).transpose(1, 2)

    def _lofi_keys_values(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Lo-Fi keys and values (B, heads, H'*W', head_dim) of a (B, H, W, C) map: those of
        its ``window_size``-average-pooled map, ``H' = H / window_size`` (the map itself for
        ``window_size`` 1)."""
        if self.window_size > 1:
            x = F.avg_pool2d(x.permute(0, 3, 1, 2), self.window_size).permute(0, 2, 3, 1)
        kv = self.lofi_kv(x).view(x.shape[0], -1, 2, self.lofi_heads, self.head_dim)
        return kv.permute(2, 0, 3, 1, 4).unbind(0)

    def _hifi(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        ws = self.window_size
        windows = window_partition(x, ws)  # (B, nW, ws*ws, C)
        out = self._attend(*self._hifi_qkv(windows)).transpose(1, 2)
        out = out.reshape(b, windows.shape[1], ws * ws, -1)
        return self.hifi_proj(window_reverse(out, ws, (h, w)))

    def _lofi(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        out = self._attend(self._lofi_queries(x), *self._lofi_keys_values(x))
        return self.lofi_proj(out.transpose(1, 2).reshape(b, h, w, -1))

    def maps(self, x: torch.Tensor, query: Tuple[int, int],
             norm: Optional[nn.Module] = None) -> HiLoMaps:
        """The attention weights of the token at ``query`` (row, column) of ``x`` in both
        branches, on the arguments :meth:`forward` takes: its steps, with the weights
        materialised (the fused forward never holds them). The Hi-Fi branch is computed for the
        query's window only."""
        x = pad_to_multiple(pre_norm(x, norm), self.window_size)
        b, h, w, _ = x.shape
        ws = self.window_size
        row, col = query
        top, left = row // ws * ws, col // ws * ws
        hifi = lofi = None
        if self.hifi_heads:
            window = window_partition(x[:, top:top + ws, left:left + ws], ws)
            q, k, _ = self._hifi_qkv(window)  # (B, heads, ws*ws, head_dim)
            within = (row - top) * ws + col - left
            hifi = attention_weights(q[:, :, within:within + 1], k, self.scale)
            hifi = hifi.view(b, -1, ws, ws)
        if self.lofi_heads:
            k, _ = self._lofi_keys_values(x)
            q = self._lofi_queries(x[:, row:row + 1, col:col + 1])
            lofi = attention_weights(q, k, self.scale).view(b, -1, h // ws, w // ws)
        return HiLoMaps((top, left, ws), hifi, lofi)

    def forward(self, x: torch.Tensor, norm: Optional[nn.Module] = None) -> torch.Tensor:
        """x: (B, H, W, C) -> (B, H, W, C); ``norm``, if given, is applied to ``x`` first (the
        block's pre-norm: the padding comes after it)."""
        _, h, w, _ = x.shape
        x = pad_to_multiple(pre_norm(x, norm), self.window_size)
        if not self.lofi_heads:
            out = self._hifi(x)
        elif not self.hifi_heads:
            out = self._lofi(x)
        else:
            out = torch.cat([self._hifi(x), self._lofi(x)], dim=-1)
        return crop(out, h, w)
