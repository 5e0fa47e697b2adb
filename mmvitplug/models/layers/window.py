"""Non-overlapping window partition of channels-last maps, with right/bottom padding.

Windows are square (``int``) or rectangular (``(height, width)``): BiFormer's regions are a fixed
count per side, so their shape follows the map's aspect ratio.
"""
from typing import Tuple, Union

import torch
import torch.nn.functional as F

WindowSize = Union[int, Tuple[int, int]]


def _pair(size: WindowSize) -> Tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad a (B, H, W, C) map on the right and bottom so H and W divide by ``multiple``."""
    _, h, w, _ = x.shape
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    return x


def window_partition(x: torch.Tensor, window_size: WindowSize) -> torch.Tensor:
    """(B, H, W, C) with H, W multiples of the window -> (B, nH*nW, wh*ww, C), row-major."""
    b, h, w, c = x.shape
    wh, ww = _pair(window_size)
    x = x.view(b, h // wh, wh, w // ww, ww, c).transpose(2, 3)
    return x.reshape(b, (h // wh) * (w // ww), wh * ww, c)


def window_reverse(windows: torch.Tensor, window_size: WindowSize,
                   size: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B, nH*nW, wh*ww, C) -> (B, H, W, C)."""
    h, w = size
    b, _, _, c = windows.shape
    wh, ww = _pair(window_size)
    x = windows.view(b, h // wh, w // ww, wh, ww, c).transpose(2, 3)
    return x.reshape(b, h, w, c)
