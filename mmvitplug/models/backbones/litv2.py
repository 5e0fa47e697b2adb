"""LITv2 (Pan et al., "Fast Vision Transformers with HiLo Attention", NeurIPS 2022).

Stages 1-2 are FFN-only blocks; stages 3-4 add HiLo attention (window 2, then 1 = global).
Each block's FFN holds a depthwise 3x3 conv, the model's only position signal, so any input size
works. Downsampling between stages is deformable token merging.

Geometry at input (H, W): the patch embedding pads the image right/bottom to a multiple of 4, so
stage 1 is ``(ceil(H/4), ceil(W/4))``; each token merging floors, so stage ``i+1`` has
``floor(side_i / 2)``. Maps are kept channels-last inside the stages.
"""
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import StochasticDepth

from mmvitplug.registry import register_model
from ..layers import ConvFFN, DeformableTokenMerging, HiLoAttention, LayerNorm2d
from .base import HierarchicalBackbone

__all__ = ['LITv2']


class LITv2Block(nn.Module):
    """Pre-norm residual block on (B, H, W, C): optional HiLo attention, then the conv FFN."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, window_size: int,
                 alpha: float, with_attention: bool, qkv_bias: bool = True,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        if with_attention:
            self.norm1 = nn.LayerNorm(dim)
            self.attn = HiLoAttention(dim, num_heads, window_size, alpha, qkv_bias)
        self.with_attention = with_attention
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = ConvFFN(dim, int(dim * mlp_ratio))
        self.drop_path = StochasticDepth(drop_path, mode='row')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_attention:
            x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.ffn(self.norm2(x)))


class LITv2Stage(nn.Module):
    """Blocks of one stage, then (except the last stage) deformable token merging."""

    def __init__(self, blocks: List[LITv2Block], downsample: Optional[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample


@register_model
class LITv2(HierarchicalBackbone):
    """LITv2 backbone for detection, segmentation and classification.

    Args:
        arch: ``'s'``, ``'m'``, ``'b'`` or a dict with ``embed_dims``, ``depths``, ``num_heads``
            and optionally ``mlp_ratio`` (4), ``attention_stages`` (which stages have HiLo,
            default ``(False, False, True, True)``).
        in_channels: input image channels.
        alpha: fraction of Lo-Fi heads in HiLo attention.
        local_ws: HiLo window size per stage (unused where a stage has no attention); 1 means
            global attention.
        qkv_bias: bias of the attention projections.
        out_indices: stages whose (normalised) features ``forward`` returns.
        frozen_stages: freeze the patch embedding (0) and stages ``0..frozen_stages-1`` (>= 1).
        norm_eval: keep BatchNorm layers in eval mode during training.
        with_cp: gradient checkpointing of every block (saves memory, costs time).
        drop_path_rate: stochastic depth, linearly increasing over all blocks; default per arch.
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')``.
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
    released_checkpoints = {
        v: (f'litv2_{v}.pth', 'https://github.com/ziplab/LITv2/releases/download/v1.0/'
            f'litv2_{v}.pth')
        for v in ('s', 'm', 'b')
    }
    arch_keys = ('embed_dims', 'depths', 'num_heads')
    patch_size = 4

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 in_channels: int = 3,
                 alpha: float = 0.9,
                 local_ws: Sequence[int] = (0, 0, 2, 1),
                 qkv_bias: bool = True,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: Optional[float] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(in_channels, out_indices, frozen_stages, norm_eval, with_cp, init_cfg)
        arch_cfg = self._arch_settings(arch)
        dims = [arch_cfg['embed_dims'] * 2**i for i in range(4)]
        depths, heads = arch_cfg['depths'], arch_cfg['num_heads']
        attention_stages = arch_cfg.get('attention_stages', (False, False, True, True))
        mlp_ratio = arch_cfg.get('mlp_ratio', 4.0)
        if drop_path_rate is None:
            drop_path_rate = arch_cfg.get('drop_path_rate', 0.0)
        if len(local_ws) != 4:
            raise ValueError(f'local_ws needs one window size per stage, got {local_ws}')
        self.embed_dims = dims
        self.depths = tuple(depths)

        self.patch_embed = nn.ModuleDict(
            dict(
                proj=nn.Conv2d(in_channels, dims[0], self.patch_size, stride=self.patch_size),
                norm=nn.LayerNorm(dims[0])))

        rates = torch.linspace(0, drop_path_rate, sum(depths), device='cpu').tolist()
        self.stages = nn.ModuleList()
        for i in range(4):
            start = sum(depths[:i])
            blocks = [
                LITv2Block(dims[i], heads[i], mlp_ratio, local_ws[i], alpha,
                           attention_stages[i], qkv_bias, rates[start + j])
                for j in range(depths[i])
            ]
            downsample = DeformableTokenMerging(dims[i], dims[i + 1]) if i < 3 else None
            self.stages.append(LITv2Stage(blocks, downsample))
        for i in self.out_indices:
            self.add_module(f'norm{i}', LayerNorm2d(dims[i]))
        self._freeze_stages()

    # ------------------------------------------------------------------ forward
    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = -x.shape[2] % self.patch_size, -x.shape[3] % self.patch_size
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        # A channels-last input makes the conv output contiguous once permuted to (B, H, W, C).
        x = self.patch_embed['proj'](x.contiguous(memory_format=torch.channels_last))
        return self.patch_embed['norm'](x.permute(0, 2, 3, 1))

    def _stages(self, x: torch.Tensor, num_stages: int) -> Iterator[Tuple[int, torch.Tensor]]:
        """Yield (index, stage feature) for the first ``num_stages`` stages; the features are
        NCHW views of the channels-last maps the stages work on."""
        x = self._embed(x)
        for i, stage in enumerate(self.stages[:num_stages]):
            for block in stage.blocks:
                x = self._checkpointed(block, x)
            yield i, x.permute(0, 3, 1, 2)
            if stage.downsample is not None and i + 1 < num_stages:
                x = stage.downsample(x)

    def init_weights(self) -> None:
        """Pretrained weights through ``init_cfg``; otherwise the authors' scheme: the shared
        linear/norm initialisation, fan-out normal convolutions with zero biases, and zero
        offset convolutions in token merging (each starts as a plain 2x2 conv)."""
        super().init_weights()
        if self.init_cfg is not None:
            return
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
