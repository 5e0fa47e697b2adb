"""Hierarchical attention (HAT) with carrier tokens, as in FasterViT.

A stage with carrier tokens keeps two sets of tokens:

* window tokens, ``(B * num_windows, ws * ws, C)``: the map cut into ws x ws windows;
* carrier tokens, a ``(B, Hc, Wc, C)`` grid with ``ct_size x ct_size`` tokens per window
  (``Hc = ct_size * windows_per_column``), initialised once per stage by pooling the map
  (:class:`CarrierTokenInit`).

Each :class:`HATBlock` first lets all carrier tokens attend to each other (global, cheap: a few
tokens per window, :class:`CarrierTokenAttention`), then attends within each window over the
window's own carrier tokens followed by its tokens, then splits the carriers back out. The last
block of a stage can propagate the carriers into the window tokens (nearest upsampling).
Cutting the carrier grid into ct_size x ct_size windows puts each window's carriers next to its
tokens, in the same window order as the map, for any (also non-square) window grid.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .block import TransformerBlock
from .geometry import averaging_matrix, ceil_div, crop, graph_mode, shared_cache
from .mlp import Mlp
from .position import AbsolutePositionMLP
from .window_attention import CPBWindowAttention
from .window import pad_to_multiple, window_partition, window_reverse


def carrier_pooling(side: int, window_size: int, ct_size: int) -> Tuple[int, int]:
    """(kernel, stride) pooling one side of a stage map into ``ct_size`` tokens per window.

    With ``n = ceil(side / window_size) * ct_size`` tokens: ``stride = side // n`` and
    ``kernel = side - (n - 1) * stride``, so the pooling spans the whole (unpadded) side. Where
    the side is a multiple of the window this is the authors' fixed-resolution geometry.
    """
    tokens = ceil_div(side, window_size) * ct_size
    stride = side // tokens
    if not graph_mode() and stride == 0:
        raise ValueError(f'a stage map side of {side} is too small for {ct_size} carrier tokens '
                         f'per {window_size}-window; use a larger input or a smaller ct_size')
    return side - (tokens - 1) * stride, stride


def _carrier_pooling_matrix(side, window_size: int, ct_size: int, device,
                            dtype: torch.dtype) -> torch.Tensor:
    """:func:`carrier_pooling` along one axis as an averaging matrix (tokens, side)."""
    kernel, stride = carrier_pooling(side, window_size, ct_size)
    starts = torch.arange(ceil_div(side, window_size) * ct_size, device=device) * stride
    return averaging_matrix(side, starts, starts + kernel, dtype)


class CarrierTokenInit(nn.Module):
    """Carrier tokens of a stage: depthwise 3x3 conv (position encoding), then average pooling
    to ``ct_size x ct_size`` tokens per window (geometry from :func:`carrier_pooling`).

    Args:
        dim: channels.
        window_size: the stage's window size.
        ct_size: carrier tokens per window side.
    """

    def __init__(self, dim: int, window_size: int, ct_size: int) -> None:
        super().__init__()
        self.pos_embed = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.window_size = window_size
        self.ct_size = ct_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) stage input -> (B, Hc, Wc, C) carrier grid."""
        x = self.pos_embed(x)
        if graph_mode():
            # Kernel and stride follow the input size, which ONNX pooling cannot: pool by
            # matrix products instead (the same averages, summed in another order).
            rows, cols = (_carrier_pooling_matrix(s, self.window_size, self.ct_size, x.device,
                                                  x.dtype) for s in x.shape[2:])
            x = torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))
        else:
            (kh, sh), (kw, sw) = (carrier_pooling(s, self.window_size, self.ct_size)
                                  for s in x.shape[2:])
            x = F.avg_pool2d(x, (kh, kw), (sh, sw))
        return x.permute(0, 2, 3, 1)


def _hat_parts(dim: int, num_heads: int, mlp_ratio: Optional[float], qkv_bias: bool,
               grid_scale: str = 'axis') -> Tuple[nn.Module, nn.Module, Optional[nn.Module]]:
    """Position MLP, window attention and MLP (None for ``mlp_ratio`` None) of either half of a
    HAT block (built in the authors' order)."""
    pos_embed = AbsolutePositionMLP(dim, grid_scale)
    attn = CPBWindowAttention(dim, num_heads, qkv_bias)
    return pos_embed, attn, None if mlp_ratio is None else Mlp(dim, int(dim * mlp_ratio))


class CarrierTokenAttention(TransformerBlock):
    """Global attention among all carrier tokens of an image (the first half of a HAT block):
    an absolute position MLP over the carrier grid, then a pre-norm transformer block whose
    attention spans the whole grid.

    Args:
        dim, num_heads, mlp_ratio, qkv_bias: attention and MLP shape.
        drop_path: stochastic depth rate of the residual branches (per image).
        layer_scale: initial value of the layer-scale vectors, or None for none.
        grid_scale: coordinates of the position MLP (:class:`AbsolutePositionMLP`).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop_path: float = 0.0, layer_scale: Optional[float] = None,
                 grid_scale: str = 'axis') -> None:
        pos_embed, attn, mlp = _hat_parts(dim, num_heads, mlp_ratio, qkv_bias, grid_scale)
        super().__init__(dim, attn, mlp, pos_embed, drop_path, layer_scale)

    def forward(self, carriers: torch.Tensor) -> torch.Tensor:
        """(B, Hc, Wc, C) -> (B, Hc, Wc, C)."""
        b, hc, wc, c = carriers.shape
        tokens = carriers.reshape(b, hc * wc, c) + self.pos_embed((hc, wc))
        tokens = self.residual(tokens, self.attn(self.norm1(tokens), (hc, wc)), self.gamma1)
        tokens = self.residual(tokens, self.mlp(self.norm2(tokens)), self.gamma2)
        return tokens.view(b, hc, wc, c)


class HATBlock(TransformerBlock):
    """Transformer block of FasterViT's attention stages, on a (B, H, W, C) map.

    Token-wise layers (norms, MLP) run on the map's own tokens; only attention cuts it into
    windows (zero-padded on the right/bottom to a multiple of the window, padded keys masked,
    so padding never changes the result for the real tokens, and cropped afterwards).

    Args:
        dim, num_heads, mlp_ratio, qkv_bias: attention and MLP shape.
        drop_path: stochastic depth rate of the residual branches.
        layer_scale: initial value of the layer-scale vectors, or None for none.
        with_carriers: build the carrier-token attention (the stage has carrier tokens).
        propagate: add the upsampled carrier tokens to the map at the end (set on the last
            block of a stage; scaled by the carrier attention's first layer scale, as in the
            released models).
        token_mlp: build the MLP of the window tokens; without it (the plug-in attention
            module) the block has only :meth:`window_position` and
            :meth:`hierarchical_attention`, its attention branch.
        grid_scale: coordinates of the position MLPs (:class:`AbsolutePositionMLP`):
            ``'axis'`` as the released classifiers, ``'tokens'`` as the authors' DINO backbone.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop_path: float = 0.0, layer_scale: Optional[float] = None,
                 with_carriers: bool = False, propagate: bool = False,
                 token_mlp: bool = True, grid_scale: str = 'axis') -> None:
        pos_embed, attn, mlp = _hat_parts(dim, num_heads, mlp_ratio if token_mlp else None,
                                          qkv_bias, grid_scale)
        super().__init__(dim, attn, mlp, pos_embed, drop_path, layer_scale)
        self.carrier = (CarrierTokenAttention(dim, num_heads, mlp_ratio, qkv_bias, drop_path,
                                              layer_scale, grid_scale)
                        if with_carriers else None)
        self.propagate = propagate and with_carriers

    def window_position(self, x: torch.Tensor, window_size: int) -> torch.Tensor:
        """(H, W, C) absolute position embedding of a (B, H, W, C) map: the window's
        embedding (:class:`AbsolutePositionMLP` of the ws x ws grid) tiled over the map."""
        h, w, c = x.shape[1:]
        pos = self.pos_embed((window_size, window_size)).to(x.dtype)
        rows, cols = window_tiling(h, w, window_size, x.device)
        return pos.view(window_size, window_size, c)[rows, cols]

    def hierarchical_attention(
        self, x: torch.Tensor, carriers: Optional[torch.Tensor], window_size: int
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
        """The attention of a HAT block: the carrier grid attends globally, then each window's
        tokens attend over the window's carriers followed by its own (normalised) tokens.

        Args:
            x: (B, H, W, C) map, its :meth:`window_position` already added.
            carriers: (B, Hc, Wc, C) carrier grid (see :meth:`forward`), or None.
            window_size: the window side.

        Returns:
            The attention output at the map's tokens (B, H, W, C); the carriers after their
            global attention, cut into windows (B * windows, ct_size**2, C), and the window
            attention's output at them (same shape); both None without carriers.
        """
        b, h, w, c = x.shape
        ws = window_size
        nh, nw = ceil_div(h, ws), ceil_div(w, ws)
        tokens = window_partition(pad_to_multiple(self.norm1(x), ws), ws).flatten(0, 1)
        ct = None
        num_ct = 0
        if carriers is not None:
            ct_size = carriers.shape[1] // nh
            ct = window_partition(self.carrier(carriers), ct_size).flatten(0, 1)
            num_ct = ct.shape[1]
            tokens = torch.cat([self.norm1(ct), tokens], dim=1)
        out = self.attn(tokens, (ws, ws), num_ct, key_padding(h, w, ws, num_ct, x.device))
        ct_out, out = (out[:, :num_ct] if ct is not None else None), out[:, num_ct:]
        out = window_reverse(out.reshape(b, nh * nw, ws * ws, c), ws, (nh * ws, nw * ws))
        return crop(out, h, w), ct, ct_out

    def forward(self, x: torch.Tensor, carriers: Optional[torch.Tensor],
                window_size: int) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """
        Args:
            x: (B, H, W, C) map.
            carriers: (B, Hc, Wc, C) carrier grid, ``Hc = ct_size * ceil(H / window_size)``
                (likewise Wc), or None.
            window_size: the stage's window side.

        Returns:
            The updated map and carrier grid.
        """
        b, h, w, c = x.shape
        ws = window_size
        x = x + self.window_position(x, ws)
        out, ct, ct_out = self.hierarchical_attention(x, carriers, ws)
        x = self.residual(x, out, self.gamma1)
        x = self.residual(x, self.mlp(self.norm2(x)), self.gamma2)
        if carriers is None:
            return x, None

        # Row-wise drop path: per window for the carriers inside window attention, as the
        # authors drop them.
        ct = self.residual(ct, ct_out, self.gamma1)
        ct = self.residual(ct, self.mlp(self.norm2(ct)), self.gamma2)
        nh, nw = ceil_div(h, ws), ceil_div(w, ws)
        ct_size = carriers.shape[1] // nh
        carriers = window_reverse(ct.reshape(b, nh * nw, ct.shape[1], c), ct_size,
                                  carriers.shape[1:3])
        if self.propagate:
            rows, cols = (nearest_upsampling(n, ct_size, ws, s, x.device)
                          for n, s in ((nh, h), (nw, w)))
            upsampled = carriers[:, rows][:, :, cols]
            gamma = self.carrier.gamma1
            x = x + (upsampled if gamma is None else upsampled * gamma)
        return x, carriers


_MASKS = shared_cache('hat.key_padding')
_UPSAMPLING = shared_cache('hat.nearest_upsampling')
_TILING = shared_cache('hat.window_tiling')


def window_tiling(h, w, window_size: int, device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Index (h, 1) and (1, w) tensors into a ws x ws window table that tile it over an h x w
    map (position ``(i, j)`` reads ``(i % ws, j % ws)``)."""
    def compute():
        rows, cols = (torch.arange(n, device=device) % window_size for n in (h, w))
        return rows[:, None], cols[None, :]

    return _TILING.get((h, w, window_size, device), compute)


def key_padding(h, w, window_size: int, num_prefix, device) -> Optional[torch.Tensor]:
    """(windows, num_prefix + ws*ws) bool, False at padded positions of an h x w map cut into
    ws-windows behind ``num_prefix`` tokens; eagerly None when nothing is padded."""
    ws = window_size
    if not graph_mode() and h % ws == 0 and w % ws == 0:
        return None

    def compute():
        rows = torch.arange(ceil_div(h, ws) * ws, device=device) < h
        cols = torch.arange(ceil_div(w, ws) * ws, device=device) < w
        real = window_partition((rows[:, None] & cols[None, :])[None, :, :, None], ws)
        real = real.flatten(2)[0]
        return torch.cat([real.new_ones(real.shape[0], num_prefix), real], dim=1)

    return _MASKS.get((h, w, ws, num_prefix, device), compute)


def nearest_upsampling(num_windows, ct_size: int, window_size: int, length,
                       device=None) -> torch.Tensor:
    """Carrier-grid index of each of the first ``length`` map positions along one axis when every
    window's ``ct_size`` carriers are upsampled (nearest, as ``F.interpolate``) to the window."""
    def compute():
        scale = torch.tensor(ct_size / window_size, dtype=torch.float32, device=device)
        within = (torch.arange(window_size, dtype=torch.float32, device=device) * scale).floor()
        within = within.long().clamp(max=ct_size - 1)
        index = (torch.arange(num_windows, device=device)[:, None] * ct_size + within).flatten()
        return index[:length]

    return _UPSAMPLING.get((num_windows, ct_size, window_size, length, device), compute)
