"""Position MLPs of FasterViT, evaluated on the actual grid of each forward pass.

Both take 2-D coordinates through ``Linear(2, 512) -> ReLU -> Linear(512, out, bias=False)``
(``cpb_mlp``, the authors' name). The coordinate tables depend only on the grid size: they are
built with tensor ops on the weights' device (so traced and exported graphs keep them symbolic)
and, eagerly, cached per (size, device). The MLPs run in float32 even under autocast: their inputs
are coordinates, and the relative position bias is a sum of hundreds of products that bfloat16
would round to ~1%.

The MLPs' outputs depend only on their weights and the grid, so on the inference fast path
(:mod:`~mmvitplug.models.layers.switches`: no autograd, eager) each module in eval mode keeps
its outputs per grid (:class:`ResultCache`) until a weight changes, instead of evaluating an
MLP of hundreds of coordinates and gathering its output at every call. Training, autograd,
graph modes and the plain path (``fast_paths(False)``) always evaluate them.
"""
import math
from typing import Callable, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fused import Linear
from .geometry import GeometryCache, graph_mode, shared_cache, size_max
from .precision import autocast_off
from .switches import inference_fast_path

#: Hidden width of the coordinate MLPs (the authors' ``cpb_mlp``).
CPB_HIDDEN = 512
#: Relative offsets are scaled to [-LOG_RANGE, LOG_RANGE] before the log spacing (SwinV2's
#: continuous position bias, which FasterViT uses).
LOG_RANGE = 8
#: The bias is BIAS_SCALE * sigmoid(MLP(...)), so it stays within (0, 16) (SwinV2).
BIAS_SCALE = 16

_RELATIVE_TABLES = shared_cache('position.log_relative_coords')
_GRIDS = shared_cache('position.centred_grid')


def _coordinate_mlp(out_features: int, hidden: int = CPB_HIDDEN) -> nn.Sequential:
    return nn.Sequential(Linear(2, hidden), nn.ReLU(inplace=True),
                         Linear(hidden, out_features, bias=False))


def _run_float32(mlp: nn.Sequential, coords: torch.Tensor) -> torch.Tensor:
    """``mlp(coords)`` outside autocast, in the weights' dtype (float32 unless the whole model
    was cast)."""
    with autocast_off(coords.device):
        return mlp(coords.to(mlp[0].weight.dtype))


def log_relative_coords(h, w, device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Log-spaced relative coordinates of an h x w grid (SwinV2 style) and the lookup index.

    Returns:
        table: ((2h-1) * (2w-1), 2) float32, offsets scaled to [-8, 8] by the grid extent, then
            ``sign(t) * log2(|t| + 1) / 3``.
        index: (h*w, h*w) int64, row ``p``, column ``q`` -> row of ``table`` for offset p - q.
    """
    def compute():
        def offsets(n):
            # A 1-wide axis has only the offset 0; keep it 0 instead of dividing by zero.
            span = torch.arange(-(n - 1), n, dtype=torch.float32, device=device)
            return span / size_max(n - 1, 1) * LOG_RANGE

        table = torch.stack(torch.meshgrid(offsets(h), offsets(w), indexing='ij'), dim=-1)
        table = torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(LOG_RANGE)
        coords = torch.stack(torch.meshgrid(torch.arange(h, device=device),
                                            torch.arange(w, device=device),
                                            indexing='ij')).flatten(1)
        rel = coords[:, :, None] - coords[:, None, :]
        index = (rel[0] + h - 1) * (2 * w - 1) + rel[1] + w - 1
        return table.reshape(-1, 2), index

    return _RELATIVE_TABLES.get((h, w, device), compute)


#: How :func:`centred_grid` centres and scales an index: by half its axis, or by half the
#: grid's token count.
GRID_SCALES = ('axis', 'tokens')


def centred_grid(h, w, device=None, scale: str = 'axis') -> torch.Tensor:
    """(h*w, 2) row-major coordinates ``(i - h//2) / (h//2), (j - w//2) / (w//2)`` (``scale``
    ``'axis'``: each in [-1, 1]), or ``(i - n//2) / (n//2)``, ``(j - n//2) / (n//2)`` with
    ``n = h*w`` (``'tokens'``: the convention of the dense FasterViT of the authors' DINO
    detector, whose coordinates all lie near -1)."""
    def compute():
        def axis(n):
            half = n // 2 if scale == 'axis' else (h * w) // 2
            return ((torch.arange(n, dtype=torch.float32, device=device) - half) /
                    size_max(half, 1))

        return torch.stack(torch.meshgrid(axis(h), axis(w), indexing='ij'),
                           dim=-1).reshape(-1, 2)

    return _GRIDS.get((h, w, device, scale), compute)


class ResultCache:
    """A module's results that depend only on its weights and a key (the grid), kept on the
    inference fast path and dropped as soon as any weight differs from when they were computed.

    Validity is checked against a copy of the weights by value (``torch.equal``), not by
    autograd's version counters: writes through ``.data`` (mmengine's EMA updates its model
    that way) do not bump them. The comparisons read the few weights of a position MLP once
    per call, far less work than evaluating the MLP and indexing its output.

    Args:
        maxsize: grids kept (inference at a few sizes); older ones are dropped.
        max_elements: larger results are recomputed at every call, not kept. The carrier
            tokens' bias grows as the square of the carrier count, i.e. as the fourth power of
            the image side: kept unbounded, the biases of one very large input would stay in
            memory after it, while evaluating them is a small part of such a forward. The
            default (2**22, 16 MiB of float32) keeps every table up to about 1344x1344 inputs.
    """

    def __init__(self, maxsize: int = 4, max_elements: int = 2**22) -> None:
        self._weights: Tuple[torch.Tensor, ...] = ()
        self._results = GeometryCache(maxsize)  # grid -> result, least recently used dropped
        self.max_elements = max_elements

    def _weights_unchanged(self, weights: Tuple[torch.Tensor, ...]) -> bool:
        return len(weights) == len(self._weights) and all(
            w.device == c.device and w.dtype == c.dtype and w.shape == c.shape
            and torch.equal(w, c) for w, c in zip(weights, self._weights))

    def get(self, module: nn.Module, key: tuple, compute: Callable[[], torch.Tensor]):
        """``compute()``, or what it returned for ``key`` while ``module`` had its present
        weights."""
        if module.training or not inference_fast_path():
            return compute()
        weights = tuple(module.parameters())
        if any(w.is_meta for w in weights):  # shapes only: nothing to keep, nothing to compare
            return compute()
        if not self._weights_unchanged(weights):
            self._weights = tuple(w.detach().clone() for w in weights)
            self._results.clear()
        return self._results.get(key, compute, keep=lambda r: r.numel() <= self.max_elements)

    def __len__(self) -> int:
        return len(self._results)

    def clear(self) -> None:
        self._weights = ()
        self._results.clear()


class RelativePositionBias(nn.Module):
    """Continuous relative position bias ``16 * sigmoid(MLP(log-spaced offsets))`` per head.

    Args:
        num_heads: attention heads (MLP outputs).
    """

    def __init__(self, num_heads: int) -> None:
        super().__init__()
        self.cpb_mlp = _coordinate_mlp(num_heads)
        self.results = ResultCache()

    def forward(self, size: Tuple[int, int], num_prefix: int = 0) -> torch.Tensor:
        """Bias (heads, P + h*w, P + h*w), float32, for tokens of an h x w grid behind
        ``num_prefix`` tokens (carrier tokens), whose rows and columns get zero bias."""
        def compute():
            table, index = log_relative_coords(*size, device=self.cpb_mlp[0].weight.device)
            table = _run_float32(self.cpb_mlp, table)
            bias = (BIAS_SCALE * torch.sigmoid(table))[index].permute(2, 0, 1)
            if graph_mode() or num_prefix:
                bias = F.pad(bias, (num_prefix, 0, num_prefix, 0))
            return bias

        return self.results.get(self, (tuple(size), num_prefix), compute)


class AbsolutePositionMLP(nn.Module):
    """Absolute position embedding: an MLP of the centred, normalised 2-D grid coordinates.

    Args:
        dim: embedding channels (MLP outputs).
        grid_scale: how the coordinates are scaled (:func:`centred_grid`): ``'axis'`` (the
            released classifiers) or ``'tokens'`` (the authors' DINO backbone).
    """

    def __init__(self, dim: int, grid_scale: str = 'axis') -> None:
        super().__init__()
        if grid_scale not in GRID_SCALES:
            raise ValueError(f'grid_scale must be one of {GRID_SCALES}, got {grid_scale!r}')
        self.cpb_mlp = _coordinate_mlp(dim)
        self.grid_scale = grid_scale
        self.results = ResultCache()

    def forward(self, size: Tuple[int, int]) -> torch.Tensor:
        """Embedding (h*w, dim) of an h x w grid in row-major order, float32."""
        return self.results.get(self, tuple(size), lambda: _run_float32(
            self.cpb_mlp, centred_grid(*size, device=self.cpb_mlp[0].weight.device,
                                       scale=self.grid_scale)))
