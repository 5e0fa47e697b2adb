"""Plug-in attention: the three papers' attentions as 2-D modules for other networks.

FasterViT's hierarchical attention (HAT), BiFormer's bi-level routing attention (BRA) and
LITv2's HiLo attention, each as an NCHW-in, same-shape-NCHW-out module in OpenMMLab's plug-in
convention (mmcv's ``ContextBlock``, ``GeneralizedAttention``, ``NonLocal2d``): registered in
``MODELS``, ``in_channels`` first, built by ``mmcv.cnn.build_plugin_layer`` and inserted into
mmdet's / mmpretrain's ResNet with ``plugins=[dict(cfg=dict(type='BiLevelRoutingAttention2d'),
stages=(False, True, True, True), position='after_conv3')]``.

Each plug-in is its family's backbone block without the MLP: the same classes and attention
code (:mod:`mmvitplug.models.layers`), the same parameter names (a block's ``pos_embed``,
``norm1``, ``attn``, ``carrier`` load as they are), and::

    y = x + drop_path(gamma * branch(x))

where ``branch`` is the block's attention branch with its position encoding and ``gamma`` a
per-channel scale initialised to zero, so that inserting a plug-in into a pretrained network
starts as the identity (``GeneralizedAttention``'s rule). ``residual=False`` returns
``branch(x)`` alone. Inputs of any size are padded inside (windows, regions) and cropped.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmvitplug.registry import register_model
from .layers import (BiLevelRoutingAttention, CarrierTokenInit, HATBlock, HiLoAttention,
                     TransformerBlock, init_transformer_weights)
from .layers.geometry import crop, graph_mode, size_max

__all__ = ['BiLevelRoutingAttention2d', 'HATAttention2d', 'HiLoAttention2d']

#: Channels per head where ``num_heads`` is not given.
DEFAULT_HEAD_DIM = 64


def default_num_heads(in_channels: int, num_heads: Optional[int]) -> int:
    """``num_heads``, or one head per :data:`DEFAULT_HEAD_DIM` channels (1 where that does not
    divide ``in_channels``)."""
    if num_heads is not None:
        if num_heads < 1 or in_channels % num_heads:
            raise ValueError(f'num_heads must be >= 1 and divide in_channels {in_channels}, '
                             f'got {num_heads}')
        return num_heads
    if in_channels >= DEFAULT_HEAD_DIM and in_channels % DEFAULT_HEAD_DIM == 0:
        return in_channels // DEFAULT_HEAD_DIM
    return 1


class AttentionPlugin:
    """What the three plug-ins add to their family's block (a mixin in front of it): the NCHW
    interface, input checks, the zero-initialised residual scale and the initialisation.

    A subclass builds its block, then calls :meth:`_init_plugin`, and defines :meth:`branch`.
    """

    def _init_plugin(self, in_channels: int, residual: bool) -> None:
        self.in_channels = in_channels
        self.with_residual = residual
        # The block was built without layer scale; the plug-in's scale starts at zero.
        self.gamma1 = nn.Parameter(torch.zeros(in_channels)) if residual else None
        self.init_weights()

    def init_weights(self) -> None:
        """The authors' initialisation of the attention (truncated normal linears), and a zero
        residual scale: the plug-in starts as the identity. mmengine calls this after the host
        network's own ``init_cfg`` (e.g. ResNet's Kaiming init of every conv)."""
        init_transformer_weights(self)
        if self.gamma1 is not None:
            nn.init.zeros_(self.gamma1)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The attention branch: (B, C, H, W) -> (B, H, W, C) tokens."""
        raise NotImplementedError

    def _check_input(self, x: torch.Tensor) -> None:
        if graph_mode():
            return
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} takes (N, {self.in_channels}, H, W) maps, '
                             f'got shape {tuple(x.shape)}')
        if not x.is_floating_point():
            raise ValueError(f'{type(self).__name__} takes floating-point maps, got {x.dtype}')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W): ``x + drop_path(gamma * branch(x))``, or the branch
        alone with ``residual=False``."""
        self._check_input(x)
        out = self.branch(x).permute(0, 3, 1, 2)
        if not self.with_residual:
            return out.contiguous()
        # The block's residual rule, with the per-channel scale laid out for NCHW.
        return self.residual(x, out, self.gamma1.view(-1, 1, 1))

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, residual={self.with_residual}'


@register_model
class HATAttention2d(AttentionPlugin, HATBlock):
    """Hierarchical attention with carrier tokens (FasterViT's HAT) as a plug-in.

    The map is pooled to ``ct_size x ct_size`` carrier tokens per ``window_size`` window
    (:class:`~mmvitplug.models.layers.CarrierTokenInit`); the carriers attend globally, then
    every window's tokens attend over the window's carriers and its own tokens, with the
    absolute position MLP of the window and the continuous relative position bias. Sides
    shorter than ``ct_size`` (a 1 x 1 map) are zero-padded to ``ct_size`` for the pooling.

    Args:
        in_channels: channels of the map.
        num_heads: attention heads; default one per 64 channels.
        window_size: window side (the released models: 7).
        ct_size: carrier tokens per window side (the released models: 2).
        mlp_ratio: hidden width of the carrier tokens' MLP, in channels.
        qkv_bias: bias of the q/k/v projections.
        residual: return ``x + gamma * attention`` with ``gamma`` starting at zero; False for
            the attention branch alone.
        drop_path: stochastic depth rate of the residual branch (per image).
    """
    _abbr_ = 'hat_attention'

    def __init__(self, in_channels: int, num_heads: Optional[int] = None, window_size: int = 7,
                 ct_size: int = 2, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 residual: bool = True, drop_path: float = 0.0) -> None:
        if not 1 <= ct_size <= window_size:
            raise ValueError(f'ct_size must be in [1, window_size={window_size}], got {ct_size}')
        heads = default_num_heads(in_channels, num_heads)
        super().__init__(in_channels, heads, mlp_ratio, qkv_bias, drop_path,
                         with_carriers=True, token_mlp=False)
        self.window_size = window_size
        self.ct_size = ct_size
        self.carrier_init = CarrierTokenInit(in_channels, window_size, ct_size)
        self._init_plugin(in_channels, residual)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        # Symbolic amounts in graph mode (zero at every size the pooling already fits).
        pad_h, pad_w = (size_max(self.ct_size - s, 0) for s in (h, w))
        if graph_mode() or h < self.ct_size or w < self.ct_size:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        carriers = self.carrier_init(x)
        t = x.permute(0, 2, 3, 1)
        pos = self.window_position(t, self.window_size)
        out, _, _ = self.hierarchical_attention(t + pos, carriers, self.window_size)
        return crop(pos + out, h, w)

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, window_size={self.window_size}, '
                f'ct_size={self.ct_size}')


@register_model
class BiLevelRoutingAttention2d(AttentionPlugin, TransformerBlock):
    """Bi-level routing attention (BiFormer's BRA) as a plug-in.

    A 3x3 depthwise conv of the map is its position encoding (BiFormer's block adds it to the
    map before the attention; here it is part of the branch), then the map is cut into regions,
    each query region routes to the ``topk`` regions whose mean key best matches its mean query,
    and its tokens attend to the tokens of those regions, plus a depthwise conv of V (LePE).

    Args:
        in_channels: channels of the map.
        num_heads: attention heads; default one per 64 channels.
        topk: regions each query region attends to (all where there are fewer).
        n_win: regions per side (the released policy: 7 for 224 inputs, 8 for ADE20K crops,
            16 for COCO); exclusive with ``region_size``.
        region_size: tokens per region side instead (the number of regions grows with the
            map, so the cost stays linear in its size).
        qk_dim: channels of queries and keys; default ``in_channels``.
        side_dwconv: kernel of the LePE conv on V (5 in the released models; 0 for none).
        pos_kernel: kernel of the position-encoding conv, 3 or 0 for none (the authors'
            ``before_attn_dwconv``).
        residual, drop_path: as :class:`HATAttention2d`.
    """
    _abbr_ = 'bra_attention'

    def __init__(self, in_channels: int, num_heads: Optional[int] = None, topk: int = 4,
                 n_win: Optional[int] = 7, region_size: Optional[int] = None,
                 qk_dim: Optional[int] = None, side_dwconv: int = 5, pos_kernel: int = 3,
                 residual: bool = True, drop_path: float = 0.0) -> None:
        if pos_kernel not in (0, 3):
            raise ValueError(f'pos_kernel must be 3 or 0 (no position conv), got {pos_kernel}')
        if region_size is not None:
            n_win = None
        heads = default_num_heads(in_channels, num_heads)
        attn = BiLevelRoutingAttention(in_channels, heads, topk, qk_dim, n_win, region_size,
                                       side_dwconv)
        pos_embed = (nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels)
                     if pos_kernel else None)
        super().__init__(in_channels, attn, None, pos_embed, drop_path, norm_eps=1e-6)
        self._init_plugin(in_channels, residual)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        t = x.permute(0, 2, 3, 1)
        if self.pos_embed is None:
            return self.attn(t, self.norm1)
        pos = self.pos_embed(x).permute(0, 2, 3, 1)
        return pos + self.attn(t + pos, self.norm1)

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, n_win={self.attn.n_win}, '
                f'region_size={self.attn.region_size}, topk={self.attn.topk}')


@register_model
class HiLoAttention2d(AttentionPlugin, TransformerBlock):
    """HiLo attention (LITv2) as a plug-in: ``int(num_heads * alpha)`` Lo-Fi heads attend to
    keys/values of the ``window_size``-average-pooled map, the other (Hi-Fi) heads within
    ``window_size`` windows. LITv2 has no position encoding in its attention (its FFN's
    depthwise conv carries position), so neither has the plug-in.

    Args:
        in_channels: channels of the map.
        num_heads: attention heads; default one per 64 channels (with few heads, ``alpha``
            rounds: 2 heads at alpha 0.9 are one Lo-Fi and one Hi-Fi head).
        window_size: Hi-Fi window side and Lo-Fi pooling size (the released models: 2);
            1 means global attention.
        alpha: fraction of Lo-Fi heads (the released models: 0.9).
        qkv_bias: bias of the q/k/v projections.
        residual, drop_path: as :class:`HATAttention2d`.
    """
    _abbr_ = 'hilo_attention'

    def __init__(self, in_channels: int, num_heads: Optional[int] = None, window_size: int = 2,
                 alpha: float = 0.9, qkv_bias: bool = True, residual: bool = True,
                 drop_path: float = 0.0) -> None:
        heads = default_num_heads(in_channels, num_heads)
        attn = HiLoAttention(in_channels, heads, window_size, alpha, qkv_bias)
        super().__init__(in_channels, attn, None, drop_path=drop_path)
        self._init_plugin(in_channels, residual)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x.permute(0, 2, 3, 1), self.norm1)

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, window_size={self.attn.window_size}, '
                f'lofi_heads={self.attn.lofi_heads}, hifi_heads={self.attn.hifi_heads}')
