"""LITv2 (Pan et al., "Fast Vision Transformers with HiLo Attention", NeurIPS 2022).

Stages 1-2 are FFN-only blocks; stages 3-4 add HiLo attention (window 2, then 1 = global).
Each block's FFN holds a depthwise 3x3 conv, the model's only position signal, so any input size
works. Downsampling between stages is deformable token merging.

Geometry at input (H, W): the patch embedding pads the image right/bottom to a multiple of 4, so
stage 1 is ``(ceil(H/4), ceil(W/4))``; each token merging floors, so stage ``i+1`` has
``floor(side_i / 2)``. Maps are kept channels-last inside the stages.

This file holds what is LITv2's own: the patch embedding, the block (HiLo attention where the
stage has it, then the conv FFN) and the variants. HiLo and the deformable token merging are in
:mod:`mmvitplug.models.layers.hilo` and :mod:`~mmvitplug.models.layers.token_merging`.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmvitplug.registry import register_model
from ..layers import (ConvFFN, DeformableTokenMerging, HiLoAttention, LayerNorm2d,
                      TransformerBlock)
from ..layers.geometry import graph_mode, pad_amount
from .base import HierarchicalBackbone, Stage

__all__ = ['LITv2']


class PatchEmbed(nn.Module):
    """Zero-pad the image right/bottom to a multiple of ``patch_size``, a ``patch_size``
    stride-``patch_size`` conv, then a LayerNorm (none with ``norm=False``, the authors'
    ``patch_norm=False``)."""

    def __init__(self, in_channels: int, dim: int, patch_size: int = 4, norm: bool = True) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.norm = LayerNorm2d(dim) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = (pad_amount(s, self.patch_size) for s in x.shape[2:])
        if graph_mode() or pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h)).contiguous(memory_format=torch.channels_last)
        x = self.proj(x)
        return x if self.norm is None else self.norm(x)


@register_model
class LITv2(HierarchicalBackbone):
    """LITv2 backbone for detection, segmentation and classification.

    Output norms (``out_norms``): by default a LayerNorm per stage, stage 4's the released
    classifier's final norm; the authors' detection backbone has none on stage 1 and fresh
    LayerNorms on stages 2-4 (``out_norms=(None, 'LN', 'LN', 'LN')``), their segmentation
    backbone fresh LayerNorms on all four (``out_norms='LN'``).

    Args:
        arch: ``'s'``, ``'m'``, ``'b'`` or a dict with ``embed_dims`` (per-stage widths, or the
            stage-1 width, doubled per stage), ``depths`` and ``num_heads``, and optionally any
            of ``mlp_ratios`` (4), ``attention_stages`` (which stages have HiLo, default
            ``(False, False, True, True)``; the authors' ``has_msa``), ``alpha``,
            ``local_ws``, ``qkv_bias`` (below), ``patch_norm`` (True: a LayerNorm after the
            patch embedding, as the authors' option) and ``drop_path_rate``. Per-stage values
            take one value per stage or one for all.
        in_channels: input image channels.
        alpha: fraction of Lo-Fi heads in HiLo attention; None takes the arch's (0.9).
        local_ws: HiLo window size per stage (unused where a stage has no attention); 1 means
            global attention; None takes the arch's (2 in stage 3, 1 in stage 4).
        qkv_bias: bias of the attention projections; None takes the arch's (True).
        **kwargs: ``out_indices``, ``frozen_stages``, ``norm_eval``, ``with_cp``,
            ``drop_path_rate`` (None: the arch's) and ``init_cfg``, as every backbone
            (:class:`~mmvitplug.models.backbones.base.HierarchicalBackbone`).
    """

    family = 'LITv2'
    arch_zoo: Dict[str, dict] = {
        's': dict(embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                  drop_path_rate=0.2),
        'm': dict(embed_dims=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24),
                  drop_path_rate=0.3),
        'b': dict(embed_dims=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32),
                  drop_path_rate=0.5),
    }
    required_arch_keys = ('embed_dims', 'depths', 'num_heads')
    arch_defaults = dict(mlp_ratios=4.0, attention_stages=(False, False, True, True), alpha=0.9,
                         local_ws=(0, 0, 2, 1), qkv_bias=True, patch_norm=True,
                         drop_path_rate=0.0)
    per_stage_keys = ('embed_dims', 'depths', 'num_heads', 'mlp_ratios', 'attention_stages',
                      'local_ws')
    released_checkpoints = {
        v: (f'litv2_{v}.pth', 'https://github.com/ziplab/LITv2/releases/download/v1.0/'
            f'litv2_{v}.pth')
        for v in ('s', 'm', 'b')
    }
    patch_size = 4
    layer_norm_eps = 1e-5  # nn.LayerNorm's default, as in every LITv2 model of the authors'

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 in_channels: int = 3,
                 alpha: Optional[float] = None,
                 local_ws: Optional[Sequence[int]] = None,
                 qkv_bias: Optional[bool] = None,
                 **kwargs) -> None:
        super().__init__(arch, in_channels, alpha=alpha, local_ws=local_ws, qkv_bias=qkv_bias,
                         **kwargs)

    def _make_stem(self, cfg: dict) -> nn.Module:
        return PatchEmbed(self.in_channels, self.embed_dims[0], self.patch_size,
                          cfg['patch_norm'])

    def _make_stage(self, index: int, cfg: dict, drop_path_rates: List[float]) -> Stage:
        dim = self.embed_dims[index]
        blocks = []
        for rate in drop_path_rates:
            attn = (HiLoAttention(dim, cfg['num_heads'][index], cfg['local_ws'][index],
                                  cfg['alpha'], cfg['qkv_bias'])
                    if cfg['attention_stages'][index] else None)
            mlp = ConvFFN(dim, int(dim * cfg['mlp_ratios'][index]))
            blocks.append(TransformerBlock(dim, attn, mlp, drop_path=rate))
        last = index == self.num_stages - 1
        return Stage(blocks,
                     None if last else DeformableTokenMerging(dim, self.embed_dims[index + 1]))

    def _make_classifier_norm(self, width: int, cfg: dict) -> nn.Module:
        return LayerNorm2d(width, eps=self.layer_norm_eps)

    def init_scratch_weights(self) -> None:
        """The authors' scheme: the shared linear/norm initialisation, fan-out normal
        convolutions with zero biases, and zero offset convolutions in token merging (each
        starts as a plain 2x2 conv)."""
        super().init_scratch_weights()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0, (2.0 / (fan_out // module.groups))**0.5)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # After the loop, which also visits the merging layers' offset convolutions.
        for module in self.modules():
            if isinstance(module, DeformableTokenMerging):
                module.reset_parameters()
