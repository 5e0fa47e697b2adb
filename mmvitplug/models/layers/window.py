"""Non-overlapping window partition of channels-last maps, with right/bottom padding.

Windows are square (``int``) or rectangular (``(height, width)``): BiFormer's regions are a fixed
count per side, so their shape follows the map's aspect ratio. Sizes may be ints, traced 0-dim
tensors or symbolic ints (see :mod:`~mmvitplug.models.layers.geometry`).
"""
from typing import Tuple, Union

import torch
import torch.nn.functional as F

from .geometry import as_pair, graph_mode, pad_amount

WindowSize = Union[int, Tuple[int, int]]


def pad_to_multiple(x: torch.Tensor, multiple: int, channels_last: bool = True) -> torch.Tensor:
    """Zero-pad a (B, H, W, C) map (``channels_last=False``: (B, C, H, W)) on the right and
    bottom so H and W divide by ``multiple``.

    Eagerly a map that needs no padding is returned as is; in graph mode the pad is always
    recorded (with amounts computed from the input size), so the graph fits every size.
    """
    h, w = x.shape[1:3] if channels_last else x.shape[2:4]
    pad_h, pad_w = pad_amount(h, multiple), pad_amount(w, multiple)
    if graph_mode() or pad_h or pad_w:
        x = F.pad(x, ((0, 0) if channels_last else ()) + (0, pad_w, 0, pad_h))
    return x


def window_partition(x: torch.Tensor, window_size: WindowSize) -> torch.Tensor:
    """(B, H, W, C) with H, W multiples of the window -> (B, nH*nW, wh*ww, C), row-major."""
    b, h, w, c = x.shape
    wh, ww = as_pair(window_size)
    x = x.view(b, h // wh, wh, w // ww, ww, c).transpose(2, 3)
    return x.reshape(b, (h // wh) * (w // ww), wh * ww, c)


def window_reverse(windows: torch.Tensor, window_size: WindowSize,
                   size: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B, nH*nW, wh*ww, C) -> (B, H, W, C)."""
    h, w = size
    b, _, _, c = windows.shape
    wh, ww = as_pair(window_size)
    x = windows.view(b, h // wh, w // ww, wh, ww, c).transpose(2, 3)
    return x.reshape(b, h, w, c)
