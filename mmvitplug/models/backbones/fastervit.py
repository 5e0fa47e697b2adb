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
result for real positions (the authors' fixed-resolution classifiers accept only sizes that need
no padding, and there the outputs are theirs); carrier tokens are pooled from the unpadded map.
``window_padding='zeros'`` instead zero-pads each stage's map to whole windows and lets the
padded tokens take part, and ``grid_scale='tokens'`` scales the window position MLP's
coordinates by the window's token count: what the dense backbone of the authors' DINO detector
does (``configs/_base_/recipes/dino_4scale_12e_coco.py`` sets both).

This file holds what is FasterViT's own: its conv blocks, stem and downsampling, the variants,
and :class:`HATStage`, which initialises a stage's carrier tokens once and threads them through
the HAT blocks (:mod:`mmvitplug.models.layers.hat`).
"""
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from torchvision.ops import StochasticDepth

from mmvitplug.registry import register_model
from ..layers import CarrierTokenInit, HATBlock, LayerNorm2d, conv_bn_act
from ..layers.geometry import crop
from ..layers.position import GRID_SCALES
from ..layers.precision import StridedConv2d
from ..layers.window import pad_to_multiple
from .base import HierarchicalBackbone, Stage

__all__ = ['FasterViT']


#: Stages 1-2 are residual conv blocks; only the later stages can use (hierarchical) attention.
CONV_STAGES = 2
#: How an attention stage fills its map up to whole windows (``window_padding``).
WINDOW_PADDINGS = ('masked', 'zeros')


class ConvBlock(nn.Module):
    """conv3x3 -> BN -> GELU -> conv3x3 -> BN (times ``gamma`` with a layer scale), plus the
    input (stages 1-2)."""

    def __init__(self, dim: int, drop_path: float = 0.0,
                 layer_scale: Optional[float] = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm1 = nn.BatchNorm2d(dim)
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(dim)
        self.gamma = (None if layer_scale is None else
                      nn.Parameter(torch.full((dim, ), float(layer_scale))))
        self.drop_path = StochasticDepth(drop_path, mode='row')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = conv_bn_act(conv_bn_act(x, self.conv1, self.norm1, 'gelu'), self.conv2, self.norm2)
        if self.gamma is not None:
            y = y * self.gamma.view(1, -1, 1, 1)
        return x + self.drop_path(y)


class Downsample(nn.Module):
    """Channels-first LayerNorm, then a 3x3 stride-2 conv that doubles the channels."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.reduction = StridedConv2d(dim, 2 * dim, 3, stride=2, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduction(self.norm(x))


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


class FasterViTStage(Stage):
    """A FasterViT stage: its blocks, then the downsampling.

    Args:
        blocks: the stage's blocks (NCHW map -> NCHW map).
        downsample: the module halving the map for the next stage, or None.
        window_size: the stage's window side (conv stages: the arch's nominal one).
        window_padding: ``'masked'``: the stage runs on its map as it is (attention blocks pad
            for attention only and mask the padded keys, so padding never changes the real
            tokens' results); ``'zeros'``: the stage zero-pads its map to whole windows, runs
            every block on the padded map (padded tokens attend and are attended to, conv
            blocks see them as neighbours) and crops at the end - what the dense backbone of
            the authors' DINO detector does in every stage, so its trained weights expect it.
    """

    def __init__(self, blocks: Sequence[nn.Module], downsample: Optional[nn.Module],
                 window_size: int, window_padding: str = 'masked') -> None:
        super().__init__(blocks, downsample)
        self.window_size = window_size
        self.window_padding = window_padding

    def run_blocks(self, x: torch.Tensor, run: Callable[..., tuple]) -> torch.Tensor:
        if self.window_padding == 'masked':
            return self.run_padded_blocks(x, run)
        h, w = x.shape[2:]
        x = self.run_padded_blocks(pad_to_multiple(x, self.window_size, channels_last=False), run)
        return crop(x, h, w, first_dim=2)

    def run_padded_blocks(self, x: torch.Tensor, run: Callable[..., tuple]) -> torch.Tensor:
        """The blocks on the (padded, with ``'zeros'``) NCHW map."""
        return super().run_blocks(x, run)


class HATStage(FasterViTStage):
    """An attention stage: window attention in every block and, with ``carrier_init``,
    hierarchical attention through carrier tokens that the stage pools once from its input and
    threads through its blocks.

    Args:
        blocks: the stage's :class:`~mmvitplug.models.layers.HATBlock` s.
        downsample, window_size, window_padding: as :class:`FasterViTStage`.
        carrier_init: pools the carrier tokens from the stage input; None for window attention
            only.
    """

    def __init__(self, blocks: Sequence[HATBlock], downsample: Optional[nn.Module],
                 window_size: int, carrier_init: Optional[CarrierTokenInit] = None,
                 window_padding: str = 'masked') -> None:
        super().__init__(blocks, downsample, window_size, window_padding)
        self.carrier_init = carrier_init

    def run_padded_blocks(self, x: torch.Tensor, run: Callable[..., tuple]) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W); the blocks work on the (B, H, W, C) view."""
        carriers = self.carrier_init(x) if self.carrier_init is not None else None
        x = x.permute(0, 2, 3, 1)
        for block in self.blocks:
            x, carriers = run(block, x, carriers, self.window_size)
        return x.permute(0, 3, 1, 2)


_RELEASED = dict(window_size=7, ct_size=2, mlp_ratios=4.0, hat=(False, False, True, False),
                 layer_scale=None, do_propagation=False, window_padding='masked',
                 grid_scale='axis')
_LARGE = dict(_RELEASED, num_heads=(4, 8, 16, 32), in_dim=64, layer_scale=1e-5,
              do_propagation=True)
_IN21K = dict(_LARGE, embed_dims=196, depths=(3, 3, 12, 5), ct_size=0, hat=False,
              drop_path_rate=0.42)


@register_model
class FasterViT(HierarchicalBackbone):
    """FasterViT backbone for detection, segmentation and classification.

    Output norms (``out_norms``): by default stage 4's is the released model's final BatchNorm
    (a LayerNorm with ``layer_norm_last``), stages 1-3 get a LayerNorm; the authors' DINO
    detector uses four fresh BatchNorms (``out_norms='BN'``).

    Args:
        arch: a released variant (``'0'`` ... ``'6'``, ``'4_21k_224'``, ``'4_21k_384'``,
            ``'4_21k_512'``, ``'4_21k_768'``) or a dict with ``embed_dims`` (per-stage widths,
            or the stage-1 width: stage i then has ``embed_dims * 2**i``), ``in_dim`` (stem
            width), ``depths``, ``num_heads`` (those of the conv stages unused) and optionally
            any of ``window_size``, ``ct_size``, ``hat``, ``do_propagation``, ``qkv_bias``
            (below), ``mlp_ratios`` (4; the conv stages' unused), ``layer_scale`` (initial
            value of the attention blocks' layer scales, None: none), ``layer_scale_conv`` (the
            same for the conv blocks), ``layer_norm_last`` (False: stage 4's output norm is the
            released BatchNorm; True: a LayerNorm, the authors' option of that name) and
            ``drop_path_rate``. Per-stage values take one value per stage or one for all.
        in_channels: input image channels.
        window_size: window side per stage (conv stages unused) or one for all; None takes the
            arch's (7).
        ct_size: carrier tokens per window side; None takes the arch's (2).
        hat: which stages use hierarchical attention (carrier tokens); only stages 3-4 can;
            None takes the arch's (stage 3).
        do_propagation: add the carrier tokens to the window tokens at the end of each HAT
            stage; None takes the arch's (variants 3 and up).
        qkv_bias: bias of the attention projections; None takes the arch's (True).
        window_padding: how stages fill their maps up to whole windows (see
            :class:`FasterViTStage`): ``'masked'`` (padding never changes the result) or
            ``'zeros'`` (padded tokens take part, as in the authors' DINO detector, whose
            weights need it); None takes the arch's (``'masked'``).
        grid_scale: coordinates of the attention blocks' absolute position MLPs
            (:class:`~mmvitplug.models.layers.AbsolutePositionMLP`): ``'axis'`` (each window
            axis centred and scaled to [-1, 1], the released classifiers) or ``'tokens'``
            (scaled by half the window's token count, the authors' DINO detector, whose
            weights need it); None takes the arch's (``'axis'``).
        **kwargs: ``out_indices``, ``frozen_stages``, ``norm_eval``, ``with_cp``,
            ``drop_path_rate`` (None: the arch's) and ``init_cfg``, as every backbone
            (:class:`~mmvitplug.models.backbones.base.HierarchicalBackbone`).
    """

    family = 'FasterViT'
    arch_zoo: Dict[str, dict] = {
        '0': dict(_RELEASED, embed_dims=64, in_dim=64, depths=(2, 3, 6, 5),
                  num_heads=(2, 4, 8, 16), drop_path_rate=0.2),
        '1': dict(_RELEASED, embed_dims=80, in_dim=32, depths=(1, 3, 8, 5),
                  num_heads=(2, 4, 8, 16), drop_path_rate=0.2),
        '2': dict(_RELEASED, embed_dims=96, in_dim=64, depths=(3, 3, 8, 5),
                  num_heads=(2, 4, 8, 16), drop_path_rate=0.2),
        '3': dict(_LARGE, embed_dims=128, depths=(3, 3, 12, 5), num_heads=(2, 4, 8, 16),
                  drop_path_rate=0.3),
        '4': dict(_LARGE, embed_dims=196, depths=(3, 3, 12, 5), drop_path_rate=0.3),
        '5': dict(_LARGE, embed_dims=320, depths=(3, 3, 12, 5), drop_path_rate=0.3),
        '6': dict(_LARGE, embed_dims=320, depths=(3, 3, 16, 8), drop_path_rate=0.5),
        '4_21k_224': dict(_IN21K, window_size=(7, 7, 14, 7)),
        '4_21k_384': dict(_IN21K, window_size=(7, 7, 24, 12)),
        '4_21k_512': dict(_IN21K, window_size=(7, 7, 32, 16)),
        '4_21k_768': dict(_IN21K, window_size=(7, 7, 48, 24)),
    }
    required_arch_keys = ('embed_dims', 'in_dim', 'depths', 'num_heads')
    arch_defaults = dict(_RELEASED, qkv_bias=True, layer_scale_conv=None, layer_norm_last=False,
                         drop_path_rate=0.0)
    per_stage_keys = ('embed_dims', 'depths', 'num_heads', 'window_size', 'hat', 'mlp_ratios')
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
                 qkv_bias: Optional[bool] = None,
                 window_padding: Optional[str] = None,
                 grid_scale: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(arch, in_channels, window_size=window_size, ct_size=ct_size, hat=hat,
                         do_propagation=do_propagation, qkv_bias=qkv_bias,
                         window_padding=window_padding, grid_scale=grid_scale, **kwargs)
        self.window_size = self.arch_settings['window_size']

    @classmethod
    def _check_settings(cls, cfg: dict) -> dict:
        hat = tuple(bool(h) for h in cfg['hat'])
        if any(hat[:CONV_STAGES]):
            raise ValueError(f'stages 1-{CONV_STAGES} are convolutional and cannot use hat, got '
                             f'hat={hat}')
        if any(hat) and cfg['ct_size'] < 1:
            raise ValueError(f"hat needs ct_size >= 1, got {cfg['ct_size']}")
        if cfg['grid_scale'] not in GRID_SCALES:
            raise ValueError(f"grid_scale must be one of {GRID_SCALES}, got "
                             f"{cfg['grid_scale']!r}")
        if cfg['window_padding'] not in WINDOW_PADDINGS:
            raise ValueError(f"window_padding must be one of {WINDOW_PADDINGS}, got "
                             f"{cfg['window_padding']!r}")
        return dict(cfg, hat=hat)

    def _make_stem(self, cfg: dict) -> nn.Module:
        return Stem(self.in_channels, cfg['in_dim'], self.embed_dims[0])

    def _make_stage(self, index: int, cfg: dict, drop_path_rates: List[float]) -> Stage:
        dim = self.embed_dims[index]
        downsample = Downsample(dim) if index < self.num_stages - 1 else None
        window = cfg['window_size'][index]
        if index < CONV_STAGES:
            return FasterViTStage(
                [ConvBlock(dim, r, cfg['layer_scale_conv']) for r in drop_path_rates],
                downsample, window, cfg['window_padding'])
        depth, hat = self.depths[index], cfg['hat'][index]
        blocks = [
            HATBlock(dim, cfg['num_heads'][index], cfg['mlp_ratios'][index], cfg['qkv_bias'], r,
                     cfg['layer_scale'], with_carriers=hat,
                     propagate=cfg['do_propagation'] and j == depth - 1,
                     grid_scale=cfg['grid_scale'])
            for j, r in enumerate(drop_path_rates)
        ]
        carrier_init = CarrierTokenInit(dim, window, cfg['ct_size']) if hat else None
        return HATStage(blocks, downsample, window, carrier_init, cfg['window_padding'])

    def _make_classifier_norm(self, width: int, cfg: dict) -> nn.Module:
        if cfg['layer_norm_last']:
            return LayerNorm2d(width, eps=1e-6)
        return nn.BatchNorm2d(width)
