"""Position MLPs of FasterViT, evaluated on the actual grid of each forward pass.

Both take 2-D coordinates through ``Linear(2, 512) -> ReLU -> Linear(512, out, bias=False)``
(``cpb_mlp``, the authors' name). The coordinate tables depend only on the grid size, so they
are computed once per size and cached; the MLPs themselves are re-evaluated (they are cheap and
their weights train).
"""
import math
from functools import lru_cache
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


#: Hidden width of the coordinate MLPs (the authors' ``cpb_mlp``).
CPB_HIDDEN = 512
#: Relative offsets are scaled to [-LOG_RANGE, LOG_RANGE] before the log spacing (SwinV2's
#: continuous position bias, which FasterViT uses).
LOG_RANGE = 8
#: The bias is BIAS_SCALE * sigmoid(MLP(...)), so it stays within (0, 16) (SwinV2).
BIAS_SCALE = 16


def _coordinate_mlp(out_features: int, hidden: int = CPB_HIDDEN) -> nn.Sequential:
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out_features, bias=False))


@lru_cache(maxsize=64)
def log_relative_coords(h: int, w: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Log-spaced relative coordinates of an h x w grid (SwinV2 style) and the lookup index.

    Returns:
        table: ((2h-1) * (2w-1), 2) float32, offsets scaled to [-8, 8] by the grid extent, then
            ``sign(t) * log2(|t| + 1) / 3``.
        index: (h*w, h*w) int64, row ``p``, column ``q`` -> row of ``table`` for offset p - q.
    """
    table = torch.stack(torch.meshgrid(
        torch.arange(-(h - 1), h, dtype=torch.float32),
        torch.arange(-(w - 1), w, dtype=torch.float32), indexing='ij'), dim=-1)
    # A 1-wide axis has only the offset 0; keep it 0 instead of dividing by zero.
    table = table / torch.tensor([max(h - 1, 1), max(w - 1, 1)], dtype=torch.float32) * LOG_RANGE
    table = torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(LOG_RANGE)
    coords = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')).flatten(1)
    offsets = coords[:, :, None] - coords[:, None, :]
    index = (offsets[0] + h - 1) * (2 * w - 1) + offsets[1] + w - 1
    return table.reshape(-1, 2), index


@lru_cache(maxsize=64)
def centred_grid(h: int, w: int) -> torch.Tensor:
    """(h*w, 2) row-major coordinates ``(i - h//2) / (h//2), (j - w//2) / (w//2)``."""
    def axis(n: int) -> torch.Tensor:
        return (torch.arange(n, dtype=torch.float32) - n // 2) / max(n // 2, 1)

    return torch.stack(torch.meshgrid(axis(h), axis(w), indexing='ij'), dim=-1).reshape(-1, 2)


class RelativePositionBias(nn.Module):
    """Continuous relative position bias ``16 * sigmoid(MLP(log-spaced offsets))`` per head.

    Args:
        num_heads: attention heads (MLP outputs).
    """

    def __init__(self, num_heads: int) -> None:
        super().__init__()
        self.cpb_mlp = _coordinate_mlp(num_heads)

    def forward(self, size: Tuple[int, int], num_prefix: int = 0) -> torch.Tensor:
        """Bias (heads, P + h*w, P + h*w) for tokens of an h x w grid behind ``num_prefix``
        tokens (carrier tokens), whose rows and columns get zero bias."""
        table, index = log_relative_coords(*size)
        weight = self.cpb_mlp[0].weight
        table = self.cpb_mlp(table.to(weight.device, weight.dtype))
        bias = (BIAS_SCALE * torch.sigmoid(table))[index.to(weight.device)].permute(2, 0, 1)
        if num_prefix:
            bias = F.pad(bias, (num_prefix, 0, num_prefix, 0))
        return bias


class AbsolutePositionMLP(nn.Module):
    """Absolute position embedding: an MLP of the centred, normalised 2-D grid coordinates.

    Args:
        dim: embedding channels (MLP outputs).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.cpb_mlp = _coordinate_mlp(dim)

    def forward(self, size: Tuple[int, int]) -> torch.Tensor:
        """Embedding (h*w, dim) of an h x w grid in row-major order."""
        weight = self.cpb_mlp[0].weight
        return self.cpb_mlp(centred_grid(*size).to(weight.device, weight.dtype))
