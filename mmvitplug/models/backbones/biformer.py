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
"""
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import StochasticDepth

from mmvitplug.registry import register_model
from ..layers import BiLevelRoutingAttention, GlobalAttentionLePE, LayerNorm2d, Mlp, conv_bn_act
from .base import HierarchicalBackbone

__all__ = ['BiFormer']


class ConvBN(nn.Sequential):
    """3x3 stride-2 conv + BatchNorm (+ activation): the stem's halves and the downsampling."""

    def __init__(self, in_channels: int, out_channels: int,
                 activation: Optional[str] = None) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1),
                         nn.BatchNorm2d(out_channels))
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_bn_act(x, self[0], self[1], self.activation)


class Stem(nn.Sequential):
    """conv-BN-GELU to half the width, then conv-BN: stride 4."""

    def __init__(self, in_channels: int, dim: int) -> None:
        super().__init__(ConvBN(in_channels, dim // 2, 'gelu'), ConvBN(dim // 2, dim))


# Inference runs the MLP over chunks of at most this many hidden activations (elements): the MLP
# is token-wise, so chunks give the same result while its transient memory (3x the map at
# mlp_ratio 3) stops scaling with the image.
MLP_CHUNK_ELEMENTS = 1 << 21


class BiFormerBlock(nn.Module):
    """Depthwise-conv position encoding, then pre-norm attention and MLP, on (B, C, H, W)."""

    def __init__(self, dim: int, attn: nn.Module, mlp_ratio: float,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.pos_embed = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = attn
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = StochasticDepth(drop_path, mode='row')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x + dwconv(x) as one conv: the identity folded into the kernel's centre tap.
        kernel = self.pos_embed.weight.clone()
        kernel[:, 0, 1, 1] += 1
        x = F.conv2d(x, kernel, self.pos_embed.bias, padding=1, groups=x.shape[1])
        # (B, H, W, C); a view when the map is channels-last, as inside the backbone.
        t = x.permute(0, 2, 3, 1).contiguous()
        if self.training or torch.is_grad_enabled():
            t = t + self.drop_path(self.attn(t, self.norm1))
            t = t + self.drop_path(self.mlp(self.norm2(t)))
            return t.permute(0, 3, 1, 2)
        # Inference: residual updates in place (t is this block's own tensor), MLP in chunks.
        t += self.attn(t, self.norm1)
        tokens = t.view(-1, t.shape[-1])
        rows = max(1, MLP_CHUNK_ELEMENTS // self.mlp.fc1.out_features)
        for start in range(0, tokens.shape[0], rows):
            part = tokens[start:start + rows]
            part += self.mlp(self.norm2(part))
        return t.permute(0, 3, 1, 2)


class BiFormerStage(nn.Module):
    """Blocks of one stage, then (except the last stage) the downsampling conv."""

    def __init__(self, blocks: List[BiFormerBlock], downsample: Optional[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample


_RELEASED = dict(topks=(1, 4, 16, -2), head_dim=32, mlp_ratio=3.0)


@register_model
class BiFormer(HierarchicalBackbone):
    """BiFormer backbone for detection, segmentation and classification.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'`` or a dict with ``embed_dims`` (4 widths),
            ``depths`` and optionally ``qk_dims`` (query/key widths, default the widths),
            ``topks`` (routed regions per stage; -2 = global attention with LePE, the released
            last stage), ``head_dim`` (32; BRA heads = qk width / head_dim), ``mlp_ratio`` (3),
            ``drop_path_rate``.
        in_channels: input image channels.
        n_win: regions per side in every BRA stage (the released policy; the authors use 7
            for ImageNet, 8 for ADE20K 512 crops, 16 for COCO). Default 7 unless
            ``region_size`` is given.
        region_size: tokens per region side, one int for all BRA stages or one per stage
            (e.g. ``(8, 4, 2)``, ImageNet-224's regions); exclusive with ``n_win``. The number
            of regions then grows with the input, so attention stays linear in the pixels.
        topks: routed regions per stage; None takes the arch's.
        out_indices: stages whose (normalised) features ``forward`` returns. Stage 4's output
            norm is the released model's final BatchNorm; stages 1-3 get a LayerNorm.
        frozen_stages: freeze the stem (0) and stages ``0..frozen_stages-1`` (>= 1).
        norm_eval: keep BatchNorm layers in eval mode during training.
        with_cp: gradient checkpointing of every block (saves memory, costs time).
        drop_path_rate: stochastic depth, linearly increasing over all blocks; default per arch
            (the authors' 0.1 / 0.15 / 0.4).
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')``.
    """

    family = 'BiFormer'
    arch_zoo: Dict[str, dict] = {
        'tiny': dict(_RELEASED, embed_dims=(64, 128, 256, 512), depths=(2, 2, 8, 2),
                     drop_path_rate=0.1),
        'small': dict(_RELEASED, embed_dims=(64, 128, 256, 512), depths=(4, 4, 18, 4),
                      drop_path_rate=0.15),
        'base': dict(_RELEASED, embed_dims=(96, 192, 384, 768), depths=(4, 4, 18, 4),
                     drop_path_rate=0.4),
    }
    released_checkpoints = {
        v: (f'biformer_{v}_best.pth', 'OneDrive link in the README of '
            'https://github.com/rayleizhu/BiFormer')
        for v in ('tiny', 'small', 'base')
    }
    arch_keys = ('embed_dims', 'depths')

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 in_channels: int = 3,
                 n_win: Optional[int] = None,
                 region_size: Optional[Union[int, Sequence[int]]] = None,
                 topks: Optional[Sequence[int]] = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: Optional[float] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(in_channels, out_indices, frozen_stages, norm_eval, with_cp, init_cfg)
        cfg = dict(_RELEASED, drop_path_rate=0.0)
        cfg.update(self._arch_settings(arch))
        if topks is not None:
            cfg['topks'] = topks
        if drop_path_rate is not None:
            cfg['drop_path_rate'] = drop_path_rate
        dims, depths = tuple(cfg['embed_dims']), tuple(cfg['depths'])
        qk_dims, topks = tuple(cfg.get('qk_dims', dims)), tuple(cfg['topks'])
        if not len(dims) == len(depths) == len(qk_dims) == len(topks) == 4:
            raise ValueError('embed_dims, depths, qk_dims and topks need one value per stage, '
                             f'got {dims}, {depths}, {qk_dims}, {topks}')
        if any(k < 1 and k != -2 for k in topks):
            raise ValueError(f'topks must be >= 1 (routed regions) or -2 (global attention '
                             f'with LePE), got {topks}')
        if n_win is not None and region_size is not None:
            raise ValueError(f'give n_win (regions per side) or region_size (tokens per region '
                             f'side), not both; got n_win={n_win}, region_size={region_size}')
        if region_size is None:
            n_win = 7 if n_win is None else n_win
            if n_win < 1:
                raise ValueError(f'n_win must be >= 1, got {n_win}')
            sizes = (None, ) * 4
        else:
            sizes = (region_size, ) * 4 if isinstance(region_size, int) else tuple(region_size)
            routed = sum(k > 0 for k in topks)
            if len(sizes) == routed:  # one per BRA stage
                sizes = sizes + (None, ) * (4 - routed)
            if len(sizes) != 4 or any(s is not None and s < 1 for s in sizes):
                raise ValueError(f'region_size must be an int or one size >= 1 per BRA stage, '
                                 f'got {region_size}')
        self.embed_dims = list(dims)
        self.depths = depths
        self.n_win = n_win
        self.region_size = None if region_size is None else sizes

        self.patch_embed = Stem(in_channels, dims[0])
        rates = torch.linspace(0, cfg['drop_path_rate'], sum(depths), device='cpu').tolist()
        self.stages = nn.ModuleList()
        for i in range(4):
            stage_rates = rates[sum(depths[:i]):sum(depths[:i + 1])]
            blocks = []
            for rate in stage_rates:
                if topks[i] == -2:
                    attn = GlobalAttentionLePE(dims[i])
                else:
                    attn = BiLevelRoutingAttention(
                        dims[i], qk_dims[i] // cfg['head_dim'], topks[i], qk_dims[i],
                        n_win=n_win, region_size=sizes[i])
                blocks.append(BiFormerBlock(dims[i], attn, cfg['mlp_ratio'], rate))
            downsample = ConvBN(dims[i], dims[i + 1]) if i < 3 else None
            self.stages.append(BiFormerStage(blocks, downsample))
        for i in self.out_indices:
            norm = nn.BatchNorm2d(dims[i]) if i == 3 else LayerNorm2d(dims[i], eps=1e-6)
            self.add_module(f'norm{i}', norm)
        self._freeze_stages()

    def _stages(self, x: torch.Tensor, num_stages: int) -> Iterator[Tuple[int, torch.Tensor]]:
        """Yield (index, NCHW stage feature) for the first ``num_stages`` stages."""
        # Channels-last memory: the convs run faster and the blocks' (B, H, W, C) views are
        # contiguous.
        x = self.patch_embed(x.contiguous(memory_format=torch.channels_last))
        for i, stage in enumerate(self.stages[:num_stages]):
            for block in stage.blocks:
                x = self._checkpointed(block, x)
            yield i, x
            if stage.downsample is not None and i + 1 < num_stages:
                x = stage.downsample(x)
