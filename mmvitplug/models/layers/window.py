"""Non-overlapping window partition of channels-last maps, with right/bottom padding."""
from typing import Tuple

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad a (B, H, W, C) map on the right and bottom so H and W divide by ``multiple``."""
    _, h, w, _ = x.shape
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    return x


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """(B, H, W, C) with H, W multiples of ``window_size`` -> (B, nH*nW, ws*ws, C), row-major."""
    b, h, w, c = x.shape
    ws = window_size
    x = x.view(b, h // ws, ws, w // ws, ws, c).transpose(2, 3)
    return x.reshape(b, (h // ws) * (w // ws), ws * ws, c)


def window_reverse(windows: torch.Tensor, window_size: int, size: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B, nH*nW, ws*ws, C) -> (B, H, W, C)."""
    h, w = size
    b, _, _, c = windows.shape
    ws = window_size
    x = windows.view(b, h // ws, w // ws, ws, ws, c).transpose(2, 3)
    return x.reshape(b, h, w, c)
