"""BiFormer (Zhu et al., "BiFormer: Vision Transformer with Bi-Level Routing Attention",
CVPR 2023).

A stride-4 conv stem, then four stages of blocks: a 3x3 depthwise conv added to the input
(position encoding), then pre-norm residual attention and MLP. Stages 1-3 use Bi-Level Routing
Attention (:mod:`mmvitplug.models.layers.bra`), stage 4 global attention with LePE. Between
stages a 3x3 stride-2 conv + BatchNorm halves the map (rounding up), so stage ``i`` of an H x W
input is ``ceil(H / 2**(i+2)) x ceil(W / 2**(i+2))``.

Regions: the released models cut every BRA map into ``n_win x n_win`` regions (7 for ImageNet
224; the authors use 8 for ADE20K 512 crops and 16 for COCO), padding the map to whole regions
as the authors' ``auto_pad`` does, so at sizes the authors' models accept without padding the
outputs are theirs. ``region_size`` instead fixes the region side in tokens per stage, so the
number of regions grows with the image and attention cost stays linear in the pixels.

This file holds what is BiFormer's own: its stem and downsampling convs, its block (a
depthwise-conv position encoding in front of a pre-norm transformer block, with an inference
path of bounded memory), the variants and the region policies. The attention itself is in
:mod:`mmvitplug.models.layers.bra`.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmvitplug.registry import register_model
from ..layers import (BiLevelRoutingAttention, ConvFFN, GlobalAttentionLePE, Mlp,
                      TransformerBlock, conv_bn_act, inference_fast_path)
from ..layers.precision import StridedConv2d
from .base import HierarchicalBackbone, Stage

__all__ = ['BiFormer']

#: ``topks`` value of a stage with global attention and LePE instead of BRA (the released
#: models' last stage; the authors' code uses the same value).
GLOBAL_ATTENTION = -2
#: Heads of that global attention: the authors' ``AttentionLePE`` default, which no released
#: model changes (it does not follow ``head_dim``).
GLOBAL_ATTENTION_HEADS = 8
# Inference runs a token-wise MLP over chunks of at most this many hidden activations
# (elements): chunks give the same result while its transient memory (3x the map at mlp_ratio
# 3) stops scaling with the image.
MLP_CHUNK_ELEMENTS = 1 << 21


class ConvBN(nn.Sequential):
    """3x3 stride-2 conv + BatchNorm (+ activation): the stem's halves and the downsampling."""

    def __init__(self, in_channels: int, out_channels: int,
                 activation: Optional[str] = None) -> None:
        super().__init__(StridedConv2d(in_channels, out_channels, 3, stride=2, padding=1),
                         nn.BatchNorm2d(out_channels))
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_bn_act(x, self[0], self[1], self.activation)


class Stem(nn.Sequential):
    """conv-BN-GELU to half the width, then conv-BN: stride 4."""

    def __init__(self, in_channels: int, dim: int) -> None:
        super().__init__(ConvBN(in_channels, dim // 2, 'gelu'), ConvBN(dim // 2, dim))


class BiFormerBlock(TransformerBlock):
    """``x + dwconv3x3(x)`` (position encoding; none when ``pos_kernel`` is 0), then a pre-norm
    transformer block, on (B, C, H, W) maps.

    Args:
        dim: channels.
        attn: BRA or global attention with LePE.
        hidden_dim: the MLP's hidden width.
        pos_kernel: kernel of the position-encoding conv, 3 or 0 (the authors'
            ``before_attn_dwconv``, which they pad by 1).
        mlp_dwconv: a 3x3 depthwise conv inside the MLP (:class:`ConvFFN`; the authors' option
            of that name); otherwise the token-wise :class:`Mlp`.
        drop_path, layer_scale: as :class:`TransformerBlock`.
    """

    def __init__(self, dim: int, attn: nn.Module, hidden_dim: int, pos_kernel: int = 3,
                 mlp_dwconv: bool = False, drop_path: float = 0.0,
                 layer_scale: Optional[float] = None) -> None:
        pos_embed = nn.Conv2d(dim, dim, 3, padding=1, groups=dim) if pos_kernel else None
        mlp = (ConvFFN if mlp_dwconv else Mlp)(dim, hidden_dim)
        super().__init__(dim, attn, mlp, pos_embed, drop_path, layer_scale, norm_eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pos_embed is not None:
            # x + dwconv(x) as one conv: the identity folded into the kernel's centre tap.
            kernel = self.pos_embed.weight.clone()
            kernel[:, 0, 1, 1] += 1
            x = F.conv2d(x, kernel, self.pos_embed.bias, padding=1, groups=x.shape[1])
        # (B, H, W, C); a view when the map is channels-last, as inside the backbone.
        t = x.permute(0, 2, 3, 1).contiguous()
        # The inference fast path updates the tokens in place, so it needs a map this block
        # owns: the position-encoding conv's output. Without that conv the map is the caller's
        # (a view of it inside the backbone, whose maps are channels-last) and the plain path
        # runs.
        if self.pos_embed is None or self.training or not inference_fast_path():
            return self.forward_tokens(t).permute(0, 3, 1, 2)
        # Inference fast path: residual updates in place, a token-wise MLP in chunks of tokens.
        t += _scaled(self.attn(t, self.norm1), self.gamma1)
        if not self.mlp.token_wise:
            t += _scaled(self.mlp(self.norm2(t)), self.gamma2)
            return t.permute(0, 3, 1, 2)
        tokens = t.view(-1, t.shape[-1])
        rows = max(1, MLP_CHUNK_ELEMENTS // self.mlp.fc1.out_features)
        for start in range(0, tokens.shape[0], rows):
            part = tokens[start:start + rows]
            part += _scaled(self.mlp(self.norm2(part)), self.gamma2)
        return t.permute(0, 3, 1, 2)


def _scaled(x: torch.Tensor, gamma: Optional[torch.Tensor]) -> torch.Tensor:
    return x if gamma is None else x * gamma


_RELEASED = dict(topks=(1, 4, 16, GLOBAL_ATTENTION), head_dim=32, mlp_ratios=3.0)


@register_model
class BiFormer(HierarchicalBackbone):
    """BiFormer backbone for detection, segmentation and classification.

    Output norms (``out_norms``): by default stage 4's is the released classifier's final
    BatchNorm and stages 1-3 get a LayerNorm; the authors' detectors and segmentors
    (``BiFormer_mm``) drop the classifier's norm for four fresh LayerNorms (``out_norms='LN'``,
    their ``extra_norms``).

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'`` or a dict with ``embed_dims`` (per-stage widths,
            or the stage-1 width, doubled per stage) and ``depths``, and optionally any of
            ``qk_dims`` (query/key widths; None: the widths), ``topks`` (below),
            ``head_dim`` (32; BRA heads = qk width / head_dim), ``mlp_ratios`` (3),
            ``side_dwconv`` (5: kernel of the depthwise LePE conv on V, padding kernel // 2;
            0: no LePE), ``before_attn_dwconv`` (3: the 3x3 depthwise position-encoding conv
            before each block; 0: none), ``mlp_dwconv`` (False; True: a 3x3 depthwise conv
            inside the MLP), ``layer_scale`` (initial value of per-channel residual scales;
            None: none, the authors' ``layer_scale_init_value=-1``), ``n_win``,
            ``region_size`` and ``drop_path_rate``. These are the authors' constructor
            options of the same names; per-stage values take one value per stage or one for
            all.
        in_channels: input image channels.
        n_win: regions per side in every BRA stage (the released policy; the authors use 7
            for ImageNet, 8 for ADE20K 512 crops, 16 for COCO). Default 7 unless
            ``region_size`` is given.
        region_size: tokens per region side, one int for all BRA stages or one per stage
            (e.g. ``(8, 4, 2)``, ImageNet-224's regions); exclusive with ``n_win``. The number
            of regions then grows with the input, so attention stays linear in the pixels.
        topks: routed regions per stage (-2: global attention with LePE, the released last
            stage); None takes the arch's.
        **kwargs: ``out_indices``, ``frozen_stages``, ``norm_eval``, ``with_cp``,
            ``drop_path_rate`` (None: the arch's) and ``init_cfg``, as every backbone
            (:class:`~mmvitplug.models.backbones.base.HierarchicalBackbone`).
    """

    family = 'BiFormer'
    arch_zoo: Dict[str, dict] = {
        'tiny': dict(_RELEASED, embed_dims=64, depths=(2, 2, 8, 2), drop_path_rate=0.1),
        'small': dict(_RELEASED, embed_dims=64, depths=(4, 4, 18, 4), drop_path_rate=0.15),
        'base': dict(_RELEASED, embed_dims=96, depths=(4, 4, 18, 4), drop_path_rate=0.4),
    }
    required_arch_keys = ('embed_dims', 'depths')
    arch_defaults = dict(_RELEASED, qk_dims=None, side_dwconv=5, before_attn_dwconv=3,
                         mlp_dwconv=False, layer_scale=None, n_win=None, region_size=None,
                         drop_path_rate=0.0)
    per_stage_keys = ('embed_dims', 'depths', 'qk_dims', 'topks', 'mlp_ratios')
    released_checkpoints = {
        v: (f'biformer_{v}_best.pth', 'OneDrive link in the README of '
            'https://github.com/rayleizhu/BiFormer')
        for v in ('tiny', 'small', 'base')
    }

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 in_channels: int = 3,
                 n_win: Optional[int] = None,
                 region_size: Optional[Union[int, Sequence[int]]] = None,
                 topks: Optional[Sequence[int]] = None,
                 **kwargs) -> None:
        super().__init__(arch, in_channels, n_win=n_win, region_size=region_size, topks=topks,
                         **kwargs)
        self.n_win = self.arch_settings['n_win']
        self.region_size = self.arch_settings['region_size']

    @classmethod
    def _check_settings(cls, cfg: dict) -> dict:
        n = cls.num_stages
        topks = cfg['topks']
        qk_dims = cfg['qk_dims'] or (None, ) * n
        cfg['qk_dims'] = tuple(q or d for q, d in zip(qk_dims, cfg['embed_dims']))
        if any(k < 1 and k != GLOBAL_ATTENTION for k in topks):
            raise ValueError(f'topks must be >= 1 (routed regions) or {GLOBAL_ATTENTION} '
                             f'(global attention with LePE), got {topks}')
        if cfg['before_attn_dwconv'] not in (0, 3):
            raise ValueError(f"before_attn_dwconv must be 3 or 0 (none), got "
                             f"{cfg['before_attn_dwconv']}: the authors' block pads this conv "
                             'by 1, so no other kernel keeps the map size')
        n_win, region_size = cfg['n_win'], cfg['region_size']
        if n_win is not None and region_size is not None:
            raise ValueError(f'give n_win (regions per side) or region_size (tokens per region '
                             f'side), not both; got n_win={n_win}, region_size={region_size}')
        if region_size is None:
            n_win = 7 if n_win is None else n_win
            if n_win < 1:
                raise ValueError(f'n_win must be >= 1, got {n_win}')
            sizes = None
        else:
            sizes = (region_size, ) * n if isinstance(region_size, int) else tuple(region_size)
            routed = sum(k > 0 for k in topks)
            if len(sizes) == routed:  # one per BRA stage
                sizes = sizes + (None, ) * (n - routed)
            if len(sizes) != n or any(s is not None and s < 1 for s in sizes):
                raise ValueError(f'region_size must be an int or one size >= 1 per BRA stage, '
                                 f'got {region_size}')
        return dict(cfg, n_win=n_win, region_size=sizes)

    def _make_stem(self, cfg: dict) -> nn.Module:
        return Stem(self.in_channels, self.embed_dims[0])

    def _make_stage(self, index: int, cfg: dict, drop_path_rates: List[float]) -> Stage:
        dim, qk_dim, topk = self.embed_dims[index], cfg['qk_dims'][index], cfg['topks'][index]
        sizes = cfg['region_size']
        blocks = []
        for rate in drop_path_rates:
            if topk == GLOBAL_ATTENTION:
                attn = GlobalAttentionLePE(dim, GLOBAL_ATTENTION_HEADS,
                                           side_dwconv=cfg['side_dwconv'])
            else:
                attn = BiLevelRoutingAttention(
                    dim, qk_dim // cfg['head_dim'], topk, qk_dim, n_win=cfg['n_win'],
                    region_size=None if sizes is None else sizes[index],
                    side_dwconv=cfg['side_dwconv'])
            blocks.append(BiFormerBlock(dim, attn, int(dim * cfg['mlp_ratios'][index]),
                                        cfg['before_attn_dwconv'], cfg['mlp_dwconv'], rate,
                                        cfg['layer_scale']))
        last = index == self.num_stages - 1
        return Stage(blocks, None if last else ConvBN(dim, self.embed_dims[index + 1]))
