"""FasterViT (Hatamizadeh et al., "FasterViT: Fast Vision Transformers with Hierarchical
Attention", ICLR 2024).

A stride-4 conv stem, two stages of residual conv blocks, then two stages of transformer blocks
on windows, with hierarchical attention through carrier tokens where ``hat`` is set (stage 3 in
the released models, see :mod:`mmvitplug.models.layers.hat`). Stages 1-3 end with a
LayerNorm + 3x3 stride-2 conv downsampling.

Geometry is computed from the input, so one model takes any size: every 3x3 stride-2 conv
rounds up, so stage ``i`` (0-based) of an H x W input is ``ceil(H / 2**(i+2)) x
ceil(W / 2**(i+2))``. Attention stages zero-pad their map on the right/bottom to a multiple of
the window for attention only, with the padded keys masked, so padding never changes the
result for real positions (the authors' fixed-resolution models accept only sizes that need no
padding, and there the outputs are theirs); carrier tokens are pooled from the unpadded map.
"""
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torchvision.ops import StochasticDepth

from mmvitplug.registry import register_model
from ..layers import CarrierTokenInit, HATBlock, LayerNorm2d, conv_bn_act
from .base import HierarchicalBackbone

__all__ = ['FasterViT']


class ConvBlock(nn.Module):
    """conv3x3 -> BN -> GELU -> conv3x3 -> BN, plus the input (stages 1-2)."""

    def __init__(self, dim: int, drop_path: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm1 = nn.BatchNorm2d(dim)
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(dim)
        self.drop_path = StochasticDepth(drop_path, mode='row')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = conv_bn_act(x, self.conv1, self.norm1, 'gelu')
        return x + self.drop_path(conv_bn_act(y, self.conv2, self.norm2))


class Downsample(nn.Module):
    """Channels-first LayerNorm, then a 3x3 stride-2 conv that doubles the channels."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.reduction = nn.Conv2d(dim, 2 * dim, 3, stride=2, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduction(self.norm(x))


class FasterViTStage(nn.Module):
    """Blocks of one stage; ``carrier_init`` where the stage has carrier tokens; downsampling
    except after the last stage."""

    def __init__(self, blocks: List[nn.Module], downsample: Optional[nn.Module],
                 carrier_init: Optional[CarrierTokenInit] = None,
                 window_size: Optional[int] = None) -> None:
        super().__init__()
        self.carrier_init = carrier_init
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample
        self.window_size = window_size


class Stem(nn.Sequential):
    """Two (3x3 stride-2 conv, BN, ReLU): stride 4."""

    def __init__(self, in_channels: int, in_dim: int, dim: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_dim, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(in_dim, eps=1e-4), nn.ReLU(),
            nn.Conv2d(in_dim, dim, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(dim, eps=1e-4), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = conv_bn_act(x, self[0], self[1], 'relu')
        return conv_bn_act(x, self[3], self[4], 'relu')


_RELEASED = dict(window_size=(7, 7, 7, 7), ct_size=2, mlp_ratio=4.0, hat=(False, False, True, False),
                 layer_scale=None, do_propagation=False)
_LARGE = dict(_RELEASED, num_heads=(4, 8, 16, 32), in_dim=64, layer_scale=1e-5,
              do_propagation=True)
_IN21K = dict(_LARGE, dim=196, depths=(3, 3, 12, 5), ct_size=0, hat=(False, ) * 4,
              drop_path_rate=0.42)


@register_model
class FasterViT(HierarchicalBackbone):
    """FasterViT backbone for detection, segmentation and classification.

    Args:
        arch: a released variant (``'0'`` ... ``'6'``, ``'4_21k_224'``, ``'4_21k_384'``,
            ``'4_21k_512'``, ``'4_21k_768'``) or a dict with ``dim`` (stage-1 width; stage i
            has ``dim * 2**i``), ``in_dim`` (stem width), ``depths``, ``num_heads`` (4 values,
            those of the conv stages unused) and optionally ``window_size``, ``ct_size``,
            ``hat``, ``mlp_ratio`` (4), ``layer_scale`` (None), ``do_propagation``,
            ``drop_path_rate``.
        in_channels: input image channels.
        window_size: window side per stage (4 values, conv stages unused, or one int for
            stages 3-4); None takes the arch's (7).
        ct_size: carrier tokens per window side; None takes the arch's (2).
        hat: which stages use hierarchical attention (carrier tokens); only stages 3-4 can;
            None takes the arch's (stage 3).
        do_propagation: add the carrier tokens to the window tokens at the end of each HAT
            stage; None takes the arch's (variants 3 and up).
        qkv_bias: bias of the attention projections.
        out_indices: stages whose (normalised) features ``forward`` returns. Stage 4's output
            norm is the released model's final BatchNorm; stages 1-3 get a LayerNorm.
        frozen_stages: freeze the stem (0) and stages ``0..frozen_stages-1`` (>= 1).
        norm_eval: keep BatchNorm layers in eval mode during training.
        with_cp: gradient checkpointing of every block (saves memory, costs time).
        drop_path_rate: stochastic depth, linearly increasing over all blocks; default per arch.
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')``.
    """

    family = 'FasterViT'
    arch_zoo: Dict[str, dict] = {
        '0': dict(_RELEASED, dim=64, in_dim=64, depths=(2, 3, 6, 5), num_heads=(2, 4, 8, 16),
                  drop_path_rate=0.2),
        '1': dict(_RELEASED, dim=80, in_dim=32, depths=(1, 3, 8, 5), num_heads=(2, 4, 8, 16),
                  drop_path_rate=0.2),
        '2': dict(_RELEASED, dim=96, in_dim=64, depths=(3, 3, 8, 5), num_heads=(2, 4, 8, 16),
                  drop_path_rate=0.2),
        '3': dict(_LARGE, dim=128, depths=(3, 3, 12, 5), num_heads=(2, 4, 8, 16),
                  drop_path_rate=0.3),
        '4': dict(_LARGE, dim=196, depths=(3, 3, 12, 5), drop_path_rate=0.3),
        '5': dict(_LARGE, dim=320, depths=(3, 3, 12, 5), drop_path_rate=0.3),
        '6': dict(_LARGE, dim=320, depths=(3, 3, 16, 8), drop_path_rate=0.5),
        '4_21k_224': dict(_IN21K, window_size=(7, 7, 14, 7)),
        '4_21k_384': dict(_IN21K, window_size=(7, 7, 24, 12)),
        '4_21k_512': dict(_IN21K, window_size=(7, 7, 32, 16)),
        '4_21k_768': dict(_IN21K, window_size=(7, 7, 48, 24)),
    }
    arch_keys = ('dim', 'in_dim', 'depths', 'num_heads')
    released_checkpoints = {
        arch: (name, 'https://huggingface.co/ahatamiz/FasterViT/resolve/main/' + name)
        for arch, name in [(v, f'fastervit_{v}_224_1k.pth.tar') for v in '0123456'] +
        [(f'4_21k_{r}', f'fastervit_4_21k_{r}_w{w}.pth.tar')
         for r, w in (('224', 14), ('384', 24), ('512', 32), ('768', 48))]
    }

    def __init__(self,
                 arch: Union[str, dict] = '0',
                 in_channels: int = 3,
                 window_size: Optional[Union[int, Sequence[int]]] = None,
                 ct_size: Optional[int] = None,
                 hat: Optional[Sequence[bool]] = None,
                 do_propagation: Optional[bool] = None,
                 qkv_bias: bool = True,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: Optional[float] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(in_channels, out_indices, frozen_stages, norm_eval, with_cp, init_cfg)
        cfg = dict(_RELEASED, drop_path_rate=0.0)
        cfg.update(self._arch_settings(arch))
        for key, value in (('window_size', window_size), ('ct_size', ct_size), ('hat', hat),
                           ('do_propagation', do_propagation),
                           ('drop_path_rate', drop_path_rate)):
            if value is not None:
                cfg[key] = value
        windows = cfg['window_size']
        if isinstance(windows, int):
            windows = (windows, ) * 4
        hat = tuple(bool(h) for h in cfg['hat'])
        depths, heads = tuple(cfg['depths']), tuple(cfg['num_heads'])
        if not len(windows) == len(hat) == len(depths) == len(heads) == 4:
            raise ValueError('window_size, hat, depths and num_heads need one value per stage, '
                             f'got {windows}, {hat}, {depths}, {heads}')
        if any(hat[:2]):
            raise ValueError(f'stages 1-2 are convolutional and cannot use hat, got hat={hat}')
        if any(hat) and cfg['ct_size'] < 1:
            raise ValueError(f"hat needs ct_size >= 1, got {cfg['ct_size']}")
        dims = [cfg['dim'] * 2**i for i in range(4)]
        self.embed_dims = dims
        self.depths = depths
        self.window_size = tuple(windows)

        self.patch_embed = Stem(in_channels, cfg['in_dim'], dims[0])
        rates = torch.linspace(0, cfg['drop_path_rate'], sum(depths), device='cpu').tolist()
        self.stages = nn.ModuleList()
        for i in range(4):
            stage_rates = rates[sum(depths[:i]):sum(depths[:i + 1])]
            downsample = Downsample(dims[i]) if i < 3 else None
            if i < 2:
                self.stages.append(FasterViTStage(
                    [ConvBlock(dims[i], r) for r in stage_rates], downsample))
                continue
            blocks = [
                HATBlock(dims[i], heads[i], cfg['mlp_ratio'], qkv_bias, r, cfg['layer_scale'],
                         with_carriers=hat[i],
                         propagate=cfg['do_propagation'] and j == depths[i] - 1)
                for j, r in enumerate(stage_rates)
            ]
            carrier_init = CarrierTokenInit(dims[i], windows[i], cfg['ct_size']) if hat[i] else None
            self.stages.append(FasterViTStage(blocks, downsample, carrier_init, windows[i]))
        for i in self.out_indices:
            norm = nn.BatchNorm2d(dims[i]) if i == 3 else LayerNorm2d(dims[i], eps=1e-6)
            self.add_module(f'norm{i}', norm)
        self._freeze_stages()

    # ------------------------------------------------------------------ forward
    def _attention_stage(self, stage: FasterViTStage, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W) through window attention (and carrier tokens)."""
        carriers = stage.carrier_init(x) if stage.carrier_init is not None else None
        x = x.permute(0, 2, 3, 1)
        for block in stage.blocks:
            x, carriers = self._checkpointed(block, x, carriers, stage.window_size)
        return x.permute(0, 3, 1, 2)

    def _stages(self, x: torch.Tensor, num_stages: int) -> Iterator[Tuple[int, torch.Tensor]]:
        """Yield (index, NCHW stage feature) for the first ``num_stages`` stages."""
        # Channels-last memory: the convs run faster and the windows read contiguous rows.
        x = self.patch_embed(x.contiguous(memory_format=torch.channels_last))
        for i, stage in enumerate(self.stages[:num_stages]):
            if stage.window_size is None:
                for block in stage.blocks:
                    x = self._checkpointed(block, x)
            else:
                x = self._attention_stage(stage, x)
            yield i, x
            if stage.downsample is not None and i + 1 < num_stages:
                x = stage.downsample(x)
