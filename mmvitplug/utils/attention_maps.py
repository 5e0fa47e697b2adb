"""Where one query point of an image looks, in each attention stage of FasterViT, BiFormer and
LITv2: what ``tools/visualize_attention.py`` draws.

The weights are the model's own: a forward pre-hook on each chosen attention layer hands the
arguments of the real forward pass to the layer's inspection method
(:meth:`BiLevelRoutingAttention.maps`, :meth:`CPBWindowAttention.attention_probs`,
:meth:`HiLoAttention.maps`), which runs the forward pass's own steps (regions, projections,
routing) and materialises the weights that the fused forward never holds. It runs inside the
hook, before the layer, because some blocks update their input in place on the inference path.

A query pixel ``(y, x)`` maps to token ``(y // stride, x // stride)`` of a stage map (the
backbones' convolutions round sizes up, so token ``i`` covers pixels ``[i * stride, (i + 1) *
stride)``); maps of padded tokens past the image are kept, and clipped when drawn.
"""
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn as nn

from mmvitplug.models.layers import BiLevelRoutingAttention, HATBlock, HiLoAttention
from mmvitplug.models.layers.geometry import ceil_div
from mmvitplug.models.layers.hat import nearest_upsampling

#: what :func:`attention_maps` draws per family: BRA routing, HAT (window + carrier tokens),
#: HiLo (Hi-Fi window + Lo-Fi pooled attention)
KINDS = {'BiFormer': 'routing', 'FasterViT': 'hierarchical', 'LITv2': 'hilo'}


class HATMaps(NamedTuple):
    """One query token in a HAT block (batch element 0; weights per head).

    Attributes:
        window: (top, left, size) of the query's window, in tokens.
        window_tokens: (heads, ws, ws) the query's attention over its window's tokens.
        window_carriers: (heads, ct, ct) its attention over the window's carrier tokens (the
            carriers of a window stand for its ct x ct sub-squares).
        query_carrier: (row, column) in the carrier grid of the carrier whose sub-square holds
            the query.
        carriers: (heads, Hc, Wc) that carrier's global attention over all carrier tokens.
    """
    window: Tuple[int, int, int]
    window_tokens: torch.Tensor
    window_carriers: torch.Tensor
    query_carrier: Tuple[int, int]
    carriers: torch.Tensor


@dataclass
class AttentionMap:
    """The maps of one attention layer for one query.

    Attributes:
        family, kind: the backbone family and :data:`KINDS` entry.
        stage, block: 0-based stage and block index of the layer.
        stride: input pixels per token of the stage map.
        map_size: (h, w) tokens of the stage map.
        query: (row, column) of the query token.
        maps: :class:`~mmvitplug.models.layers.bra.RoutingMaps` (batch element 0 kept in
            ``index``' first row), :class:`HATMaps` or
            :class:`~mmvitplug.models.layers.hilo.HiLoMaps`.
    """
    family: str
    kind: str
    stage: int
    block: int
    stride: int
    map_size: Tuple[int, int]
    query: Tuple[int, int]
    maps: NamedTuple


def _token(query_px: Tuple[int, int], stride: int, size: Tuple[int, int]) -> Tuple[int, int]:
    return tuple(min(int(p) // stride, s - 1) for p, s in zip(query_px, size))


def _hat_maps(carrier_call: tuple, window_call: tuple, attn: nn.Module, carrier_attn: nn.Module,
              query: Tuple[int, int], size: Tuple[int, int]) -> HATMaps:
    """:class:`HATMaps` from the arguments of a HAT block's carrier attention and window
    attention (``(tokens, grid, ...)`` as the block called them)."""
    carriers = carrier_attn.attention_probs(*carrier_call)  # (B, heads, Nc, Nc)
    windows = attn.attention_probs(*window_call)  # (B * windows, heads, nct + ws*ws, ...)
    (hc, wc), (ws, _), num_ct = carrier_call[1], window_call[1], window_call[2]
    ct = int(round(num_ct**0.5))
    row, col = query
    window_cols = ceil_div(size[1], ws)
    window = row // ws * window_cols + col // ws
    within = num_ct + row % ws * ws + col % ws
    weights = windows[window, :, within]  # (heads, nct + ws*ws); batch element 0
    # The carrier standing for the query's sub-square of its window: the one propagated back
    # to the query's position (the HAT block's nearest upsampling).
    carrier = tuple(int(nearest_upsampling(ceil_div(n, ws), ct, ws, n)[p])
                    for p, n in zip(query, size))
    heads = weights.shape[0]
    return HATMaps(
        (row // ws * ws, col // ws * ws, ws),
        weights[:, num_ct:].reshape(heads, ws, ws),
        weights[:, :num_ct].reshape(heads, ct, ct),
        carrier,
        carriers[0, :, carrier[0] * wc + carrier[1]].reshape(heads, hc, wc))


def _attention_blocks(backbone: nn.Module, block: int) -> List[Tuple[int, int, nn.Module]]:
    """(stage, block index, block) of the blocks to inspect: block ``block`` of every stage
    whose attention the family's picture is about."""
    family = backbone.family
    chosen = []
    for s, stage in enumerate(backbone.stages):
        blocks = list(stage.blocks)
        if not any(_inspectable(family, b) for b in blocks):
            continue
        index = block if block >= 0 else len(blocks) + block
        if not 0 <= index < len(blocks):
            raise ValueError(f'block {block} is out of range for stage {s + 1} of {family} '
                             f'({len(blocks)} blocks)')
        if _inspectable(family, blocks[index]):
            chosen.append((s, index, blocks[index]))
    return chosen


def _inspectable(family: str, block: nn.Module) -> bool:
    if family == 'FasterViT':
        return isinstance(block, HATBlock) and block.carrier is not None
    attn = getattr(block, 'attn', None)
    return isinstance(attn, BiLevelRoutingAttention if family == 'BiFormer' else HiLoAttention)


@torch.no_grad()
def attention_maps(backbone: nn.Module, image: torch.Tensor,
                   query_px: Union[Tuple[int, int], None] = None,
                   block: int = -1) -> List[AttentionMap]:
    """Run ``backbone`` on ``image`` and return the maps of the query pixel in block ``block``
    (default the last) of each attention stage: BiFormer's BRA stages (1-3), FasterViT's stages
    with carrier tokens (stage 3 in the released models), LITv2's HiLo stages (3-4).

    Args:
        backbone: a :class:`FasterViT`, :class:`BiFormer` or :class:`LITv2` (any weights).
        image: (1, 3, H, W) normalised input.
        query_px: (y, x) pixel of ``image``; default its centre.
        block: block index within each stage (negative from the end).

    Raises:
        ValueError: not one of the three families, a query outside the image, or a block
            index out of range.
    """
    family = getattr(backbone, 'family', None)
    if family not in KINDS:
        raise ValueError(f'attention maps are drawn for {", ".join(KINDS)} backbones, got '
                         f'{type(backbone).__name__}')
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f'expected one image (1, C, H, W), got {tuple(image.shape)}')
    height, width = image.shape[2:]
    if query_px is None:
        query_px = (height // 2, width // 2)
    if not (0 <= query_px[0] < height and 0 <= query_px[1] < width):
        raise ValueError(f'query {tuple(query_px)} (y, x) lies outside the {height}x{width} '
                         'image')
    results: List[AttentionMap] = []
    hooks = []
    calls: Dict[int, tuple] = {}  # FasterViT: the carrier attention's arguments, per stage
    sizes: Dict[int, tuple] = {}  # FasterViT: the (h, w) of the map entering each block

    def record(stage, index, stride, maps, size, query):
        results.append(AttentionMap(family, KINDS[family], stage, index, stride, tuple(size),
                                    query, maps))

    for stage, index, blk in _attention_blocks(backbone, block):
        stride = backbone.feature_info[stage]['reduction']
        if family == 'FasterViT':
            def carrier_hook(module, args, stage=stage):
                calls[stage] = args

            def window_hook(module, args, blk=blk, stage=stage, index=index, stride=stride):
                size = sizes[stage]
                query = _token(query_px, stride, size)
                record(stage, index, stride, _hat_maps(calls.pop(stage), args, blk.attn,
                                                       blk.carrier.attn, query, size),
                       size, query)

            def block_hook(module, args, stage=stage):
                sizes[stage] = tuple(args[0].shape[1:3])

            hooks += [blk.carrier.attn.register_forward_pre_hook(carrier_hook),
                      blk.attn.register_forward_pre_hook(window_hook),
                      blk.register_forward_pre_hook(block_hook)]
        else:
            def attn_hook(module, args, stage=stage, index=index, stride=stride):
                x, norm = args[0], (args[1] if len(args) > 1 else None)
                size = tuple(x.shape[1:3])
                query = _token(query_px, stride, size)
                record(stage, index, stride, module.maps(x[:1], query, norm), size, query)

            hooks.append(blk.attn.register_forward_pre_hook(attn_hook))
    if not hooks:
        raise ValueError(f'this {family} has no {KINDS[family]} attention stage to draw '
                         f'(block {block})')
    try:
        backbone.forward_stages(image)
    finally:
        for hook in hooks:
            hook.remove()
    return results


def head_mean(weights: Optional[torch.Tensor],
              head: Optional[int] = None) -> Optional[torch.Tensor]:
    """The weights of head ``head``, or their mean over heads (dimension 0) for None."""
    if weights is None:
        return None
    if head is None:
        return weights.float().mean(0)
    if not 0 <= head < weights.shape[0]:
        raise ValueError(f'head {head} is out of range ({weights.shape[0]} heads)')
    return weights[head].float()
