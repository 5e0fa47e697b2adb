"""Bi-Level Routing Attention (BRA, BiFormer) and BiFormer's global attention with LePE.

BRA cuts the map into regions, routes every query region to the ``topk`` regions whose mean key
best matches its mean query, and lets its tokens attend to the tokens of those regions only;
a depthwise conv of V (5x5 in the released models, ``side_dwconv``) adds local context (LePE).

How this differs from the authors' formulation while giving the same numbers:

* the authors copy the routed keys and values for every query region at once (``topk`` copies
  of K and V) and materialise all attention logits. Here the copies are made for a bounded chunk
  of query regions at a time and fed to fused scaled-dot-product attention, so the transient
  memory no longer grows with ``topk`` times the map; where every region is routed (few regions),
  there is no copy at all.
* like the authors' ``auto_pad``, the normalised input is zero-padded to whole regions before
  the projection, so padded tokens (projected to the bias) take part in routing (region means),
  attention (keys) and LePE, as in the released model. But queries are projected and attend
  only in regions that hold real tokens: regions made only of padding are routed to, never
  computed for.
* in graph mode (tracing, export, compilation), where a loop over a size-dependent number of
  chunks cannot stay symbolic, the routed keys and values of all query regions are gathered at
  once, like the authors', but from heads-major regions (``_attend_routed_graph``), so that a
  graph runtime, which materialises every slice and transpose, copies them only in the gather.
* every map is freed as soon as it has been used and, on the inference fast path
  (:mod:`~mmvitplug.models.layers.switches`), the routed keys/values of every chunk go
  through one reused buffer and the result overwrites the queries: inference memory stays a
  few times the map's.

Region geometry is computed from the input: either a fixed number of regions per side
(``n_win``, the released policy: region sides grow with the image) or a fixed region side
(``region_size`` tokens: the number of regions grows with the image, so the attention cost stays
linear in the number of tokens).
"""
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import default_scale, scaled_dot_product_attention
from .fused import Linear, linear_act
from .geometry import ceil_div, crop, graph_mode, size_min
from .inspection import attention_weights
from .norm import pre_norm
from .precision import autocast_off
from .switches import inference_fast_path
from .window import window_partition, window_reverse

# Routed keys/values copied at once, in elements: bounds the transient memory of BRA (8 MiB in
# float32) while keeping each fused attention call large enough to be efficient.
GATHER_CHUNK_ELEMENTS = 1 << 21


def region_grid(size: Tuple[int, int], n_win: Optional[int] = None,
                region_size: Optional[int] = None) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """Regions per side ``(ny, nx)`` and region shape ``(rh, rw)`` for an ``h x w`` map.

    With ``n_win`` the map is cut into ``n_win x n_win`` regions of ``ceil(side / n_win)``
    tokens (the map is padded to ``n_win`` times that); with ``region_size`` into regions of
    ``min(region_size, side)`` tokens per side, as many as cover the map.
    """
    if (n_win is None) == (region_size is None):
        raise ValueError('give exactly one of n_win (regions per side) and region_size '
                         f'(tokens per region side), got n_win={n_win}, region_size={region_size}')
    if n_win is not None:
        rh, rw = (ceil_div(s, n_win) for s in size)
        return (n_win, n_win), (rh, rw)
    rh, rw = (size_min(region_size, s) for s in size)
    return (ceil_div(size[0], rh), ceil_div(size[1], rw)), (rh, rw)


def route(q_regions: torch.Tensor, k_regions: torch.Tensor, topk: int,
          scale: float) -> torch.Tensor:
    """Indices (B, P, topk) of the regions each query region attends to.

    Args:
        q_regions, k_regions: (B, P, C) region means of queries and keys (float32).

    Routing is a hard selection: no gradient flows through it. The region means and scores
    are float32 (also under autocast): they only decide which regions are attended to, and
    bfloat16 scores, 3 significant digits, would let rounding pick other regions than the
    float32 model picks.
    """
    with torch.no_grad(), autocast_off(q_regions.device):
        scores = (q_regions * scale) @ k_regions.transpose(-2, -1)
        return scores.topk(topk, dim=-1).indices


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(G, L, C) -> (G, heads, L, C // heads), a view."""
    g, length, c = x.shape
    return x.view(g, length, num_heads, c // num_heads).transpose(1, 2)


def _region_heads(x: torch.Tensor, region: Tuple[int, int], num_heads: int) -> torch.Tensor:
    """(B, ny*rh, nx*rw, C) map -> (heads, B*ny*nx, rh*rw, C // heads): cut into regions
    (row-major, images one after the other) with the heads first, in one transpose."""
    b, h, w, c = x.shape
    rh, rw = region
    ny, nx = h // rh, w // rw
    x = x.view(b, ny, rh, nx, rw, num_heads, c // num_heads).permute(5, 0, 1, 3, 2, 4, 6)
    return x.reshape(num_heads, b * ny * nx, rh * rw, c // num_heads)


def _region_heads_reverse(x: torch.Tensor, grid: Tuple[int, int],
                          region: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`_region_heads`: (heads, B*ny*nx, rh*rw, d) -> (B, ny*rh, nx*rw,
    heads * d)."""
    heads, d = x.shape[0], x.shape[-1]
    (ny, nx), (rh, rw) = grid, region
    x = x.view(heads, -1, ny, nx, rh, rw, d).permute(1, 2, 4, 3, 5, 0, 6)
    return x.reshape(-1, ny * rh, nx * rw, heads * d)


def _region_head_means(x: torch.Tensor, batch) -> torch.Tensor:
    """(B, P, heads * d) float32 region means of (heads, B*P, L, d) heads-major regions."""
    heads, _, _, d = x.shape
    return x.mean(2, dtype=torch.float32).transpose(0, 1).reshape(batch, -1, heads * d)


def routed_attention(q: torch.Tensor, kv: torch.Tensor, index: torch.Tensor, num_heads: int,
                     scale: float, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Attention of each query region over the tokens of its routed regions.

    Args:
        q: (Gq, Lq, Cqk) queries, one row per query region.
        kv: (G, Lk, Cqk + Cv) keys and values, one row per region (contiguous).
        index: (Gq, topk) rows of ``kv`` that each query region attends to.
        num_heads: heads; each uses ``Cqk / heads`` and ``Cv / heads`` channels.
        scale: logit scale.
        out: where to write the result on the inference fast path, (Gq, Lq, Cv) contiguous; may
            be ``q`` itself (each chunk of queries is used before its result is written over
            it). Ignored elsewhere.

    Returns:
        (Gq, Lq, Cv).

    Eagerly the routed keys and values are copied for a chunk of query regions at a time
    (:data:`GATHER_CHUNK_ELEMENTS`), never for all at once; in graph mode (tracing, export,
    compilation) in one piece, as a loop over a size-dependent number of chunks cannot be kept
    symbolic (:class:`BiLevelRoutingAttention` then gathers from heads-major regions instead,
    which a graph runtime copies less).
    """
    if graph_mode():
        selected = kv.index_select(0, index.reshape(-1))
        return _attend(q, selected, num_heads, scale).flatten(2)
    groups, lq, qk_dim = q.shape
    _, lk, width = kv.shape
    topk = index.shape[1]
    chunk = min(groups, max(1, GATHER_CHUNK_ELEMENTS // (topk * lk * width)))
    if not inference_fast_path(q, kv):
        outs = []
        for start in range(0, groups, chunk):
            selected = kv.index_select(0, index[start:start + chunk].reshape(-1))
            outs.append(_attend(q[start:start + chunk], selected, num_heads, scale))
        return torch.cat(outs).flatten(2)
    # Inference fast path: one buffer for the routed keys/values of every chunk (a fresh
    # allocation per chunk costs more in page faults than the copy) and the result written
    # in place.
    buffer = kv.new_empty(chunk * topk, lk, width)
    if out is None:
        out = q.new_empty(groups, lq, width - qk_dim)
    heads_out = out.view(groups, lq, num_heads, -1)
    for start in range(0, groups, chunk):
        rows = index[start:start + chunk].reshape(-1)
        selected = torch.index_select(kv, 0, rows, out=buffer[:rows.numel()])
        heads_out[start:start + chunk] = _attend(q[start:start + chunk], selected, num_heads,
                                                 scale)
    return out


def _attend(q: torch.Tensor, selected: torch.Tensor, num_heads: int,
            scale: float) -> torch.Tensor:
    """Fused attention of (g, Lq, Cqk) queries over (g * topk, Lk, Cqk + Cv) routed regions;
    returns (g, Lq, heads, Cv / heads), the fused kernel's own layout."""
    qk_dim = q.shape[-1]
    selected = selected.view(q.shape[0], -1, selected.shape[-1])
    out = scaled_dot_product_attention(
        _heads(q, num_heads), _heads(selected[..., :qk_dim], num_heads),
        _heads(selected[..., qk_dim:], num_heads), scale)
    return out.transpose(1, 2)


def _lepe_conv(dim: int, kernel: int) -> Optional[nn.Conv2d]:
    """The depthwise LePE conv (``kernel`` odd, padding ``kernel // 2``); None for 0 (no LePE),
    as the authors' ``side_dwconv``."""
    if kernel < 0 or (kernel and kernel % 2 == 0):
        raise ValueError(f'side_dwconv must be 0 (no LePE) or an odd kernel size, got {kernel}: '
                         'the LePE conv is padded by kernel // 2 and must keep the map size')
    return nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim) if kernel else None


class RegionGeometry(NamedTuple):
    """How :class:`BiLevelRoutingAttention` cuts one map into regions
    (:meth:`~BiLevelRoutingAttention.region_geometry`).

    Attributes:
        size: (h, w) tokens of the map.
        grid: (ny, nx) regions per side of the map zero-padded to whole regions.
        region: (rh, rw) tokens per region side.
        query_grid: (qy, qx): the regions holding real tokens are the first qy x qx of the
            grid, the only ones whose queries are computed (in graph mode sizes of the graph).
    """
    size: Tuple[int, int]
    grid: Tuple[int, int]
    region: Tuple[int, int]
    query_grid: Tuple[int, int]

    @property
    def padded_size(self) -> Tuple[int, int]:
        """(Hp, Wp) of the padded map."""
        return self.grid[0] * self.region[0], self.grid[1] * self.region[1]

    @property
    def num_regions(self):
        """Regions of the padded map."""
        return self.grid[0] * self.grid[1]


class RoutingMaps(NamedTuple):
    """Where one query token looks in :class:`BiLevelRoutingAttention`
    (:meth:`~BiLevelRoutingAttention.maps`).

    Attributes:
        grid: (ny, nx) regions per side of the padded map.
        region: (rh, rw) tokens per region side.
        index: (B, qy*qx, topk) regions (row-major in the grid) routed to by each query
            region, i.e. each region holding real tokens (the first qy x qx of the grid); all
            regions, in order, where every region is routed.
        query_region: the row of ``index`` of the region holding the query token.
        attention: (B, heads, topk, rh, rw) attention of the query token over the tokens of
            its routed regions, in the order of ``index[:, query_region]``.
    """
    grid: Tuple[int, int]
    region: Tuple[int, int]
    index: torch.Tensor
    query_region: int
    attention: torch.Tensor


class BiLevelRoutingAttention(nn.Module):
    """BRA on a (B, H, W, C) map, regions padded on the right/bottom as needed.

    Args:
        dim: channels of the input and of the values.
        num_heads: attention heads.
        topk: regions each query region attends to (all regions where there are fewer).
        qk_dim: channels of queries and keys; default ``dim``.
        n_win: regions per side (the released policy); exclusive with ``region_size``.
        region_size: tokens per region side (linear-cost policy for large inputs).
        side_dwconv: kernel of the depthwise LePE conv on V (padding ``kernel // 2``); 0 for
            no LePE.

    The attention scale is ``qk_dim ** -0.5`` over the full q/k width, not per head, as in the
    released model (the weights are trained with it).
    """

    def __init__(self, dim: int, num_heads: int, topk: int, qk_dim: Optional[int] = None,
                 n_win: Optional[int] = 7, region_size: Optional[int] = None,
                 side_dwconv: int = 5) -> None:
        super().__init__()
        qk_dim = qk_dim or dim
        if qk_dim % num_heads or dim % num_heads:
            raise ValueError(f'qk_dim {qk_dim} and dim {dim} must divide by num_heads {num_heads}')
        if topk < 1:
            raise ValueError(f'topk must be >= 1, got {topk}')
        region_grid((1, 1), n_win, region_size)  # validates the policy
        self.num_heads = num_heads
        self.topk = topk
        self.qk_dim = qk_dim
        self.scale = qk_dim**-0.5
        self.n_win = n_win
        self.region_size = region_size
        self.qkv = Linear(dim, 2 * qk_dim + dim)
        self.proj = Linear(dim, dim)
        self.lepe = _lepe_conv(dim, side_dwconv)

    def region_geometry(self, x: torch.Tensor) -> RegionGeometry:
        """The regions of a (B, H, W, C) map under this layer's policy."""
        h, w = x.shape[1:3]
        grid, (rh, rw) = region_grid((h, w), self.n_win, self.region_size)
        return RegionGeometry((h, w), grid, (rh, rw), (ceil_div(h, rh), ceil_div(w, rw)))

    def _every_region_routed(self, geometry: RegionGeometry) -> bool:
        """Whether ``topk`` covers every region, so that routing can be skipped. In graph mode
        that is only decided for a region count that is the same at every size (``n_win``);
        with ``region_size`` a graph always routes (``topk`` capped by the region count), which
        gives the same attention."""
        if graph_mode() and self.n_win is None:
            return False
        return self.topk >= geometry.num_regions

    def _project(self, x: torch.Tensor, part: str) -> torch.Tensor:
        """The ``'q'``, ``'k'``, ``'v'`` or ``'kv'`` rows of the fused q/k/v projection applied
        to ``x``."""
        qk = self.qk_dim
        rows = dict(q=slice(0, qk), k=slice(qk, 2 * qk), v=slice(2 * qk, None),
                    kv=slice(qk, None))[part]
        return linear_act(x, self.qkv.weight[rows], self.qkv.bias[rows])

    def _project_map(self, x: torch.Tensor, part: str) -> torch.Tensor:
        """:meth:`_project` of a (B, H, W, C) map as a matrix of tokens: in a graph the bias is
        then part of the matrix product (ONNX Gemm), not an addition over the map."""
        b, h, w, c = x.shape
        return self._project(x.reshape(b * h * w, c), part).view(b, h, w, -1)

    def _pad(self, x: torch.Tensor, geometry: RegionGeometry) -> torch.Tensor:
        """The (B, H, W, C) map zero-padded to whole regions, as the authors' ``auto_pad``:
        padded tokens project to the bias and take part in routing, attention and LePE. In
        graph mode the pad is always recorded."""
        (h, w), (hp, wp) = geometry.size, geometry.padded_size
        if graph_mode() or (hp, wp) != (h, w):
            return F.pad(x, (0, 0, 0, wp - w, 0, hp - h))
        return x

    def _cut_regions(self, x: torch.Tensor, geometry: RegionGeometry) -> torch.Tensor:
        """(B, P, rh*rw, C): the (B, H, W, C) map padded (:meth:`_pad`) and cut into regions,
        row-major."""
        return window_partition(self._pad(x, geometry), geometry.region)

    def _query_regions(self, regions: torch.Tensor, geometry: RegionGeometry) -> torch.Tensor:
        """(B, qy*qx, L, C): the regions holding real tokens, the only ones whose queries are
        computed (fully padded regions can be routed to, but are never computed for)."""
        (qy, qx), (ny, nx) = geometry.query_grid, geometry.grid
        if not graph_mode() and (qy, qx) == (ny, nx):
            return regions
        b, _, length, c = regions.shape
        return regions.view(b, ny, nx, length, c)[:, :qy, :qx].reshape(b, qy * qx, length, c)

    def _project_regions(self, regions: torch.Tensor,
                         geometry: RegionGeometry) -> Tuple[torch.Tensor, torch.Tensor]:
        """Queries (B, qy*qx, L, Cqk) of the regions holding real tokens
        (:meth:`_query_regions`) and keys/values (B, P, L, Cqk + C) of all regions."""
        q = self._project(self._query_regions(regions, geometry), 'q')
        return q, self._project(regions, 'kv')

    def _region_means(self, regions: torch.Tensor, q: torch.Tensor, kv: torch.Tensor,
                      geometry: RegionGeometry) -> Tuple[torch.Tensor, torch.Tensor]:
        """float32 region means of the queries (B, qy*qx, Cqk) and keys (B, P, Cqk).

        Under autocast the projections ran in the low precision; a mean of a linear projection
        is the projection of the mean, so the means are then projected in float32 from the
        float32 (normalised) input instead: routing sees what the float32 model sees.
        """
        qk = self.qk_dim
        if q.dtype == regions.dtype:
            return q.mean(2, dtype=torch.float32), kv[..., :qk].mean(2, dtype=torch.float32)
        with autocast_off(regions.device):
            return self._project_means(regions.mean(2, dtype=torch.float32), geometry)

    def _project_means(self, means: torch.Tensor,
                       geometry: RegionGeometry) -> Tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_region_means` under autocast: the float32 query (B, qy*qx, Cqk) and key
        (B, P, Cqk) means from the float32 region means (B, P, C) of the input."""
        qk = self.qk_dim
        with autocast_off(means.device):
            weight, bias = self.qkv.weight.float(), self.qkv.bias.float()
            k_means = linear_act(means, weight[qk:2 * qk], bias[qk:2 * qk])
            (qy, qx), (ny, nx) = geometry.query_grid, geometry.grid
            q_means = means.view(means.shape[0], ny, nx, -1)[:, :qy, :qx].flatten(1, 2)
            return linear_act(q_means, weight[:qk], bias[:qk]), k_means

    def _route(self, regions: torch.Tensor, q: torch.Tensor, kv: torch.Tensor,
               geometry: RegionGeometry) -> torch.Tensor:
        """(B, qy*qx, topk) regions routed to by each query region (:func:`route`; ``topk``
        capped by the region count), from :meth:`_project_regions`' outputs."""
        q_means, k_means = self._region_means(regions, q, kv, geometry)
        return route(q_means, k_means, size_min(self.topk, geometry.num_regions), self.scale)

    def attend_routed(self, q: torch.Tensor, kv: torch.Tensor, index: torch.Tensor,
                      out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Token attention of each query region over its routed regions
        (:func:`routed_attention`; see there for the shapes)."""
        return routed_attention(q, kv, index, self.num_heads, self.scale, out)

    def _attend_all_regions(self, x: torch.Tensor,
                            geometry: RegionGeometry) -> Tuple[torch.Tensor, torch.Tensor]:
        """The regime where every region is routed: the real queries attend to the whole
        padded map, with no routing and no copies.

        Args:
            x: (B, H, W, C) normalised map.

        Returns:
            The attention output (B, H, W, C) and the values (B, Hp, Wp, C) for LePE.
        """
        b, h, w, c = x.shape
        qk, heads = self.qk_dim, self.num_heads
        kv = self._project(self._pad(x, geometry), 'kv')
        keys = kv.flatten(1, 2)
        out = scaled_dot_product_attention(
            _heads(self._project(x, 'q').flatten(1, 2), heads), _heads(keys[..., :qk], heads),
            _heads(keys[..., qk:], heads), self.scale)
        return out.transpose(1, 2).reshape(b, h, w, c), kv[..., qk:]

    def _attend_routed_regions(self, regions: torch.Tensor,
                               geometry: RegionGeometry) -> Tuple[torch.Tensor, torch.Tensor]:
        """The regime where each query region attends to its ``topk`` routed regions: project
        region by region, route, attend (:meth:`attend_routed`).

        Args:
            regions: (B, P, rh*rw, C) the normalised map cut into regions
                (:meth:`_cut_regions`), handed over: inference memory peaks in this step, so
                each map is dropped right after its last use (the ``del`` s).

        Returns:
            The attention output (B, H, W, C) and the values (B, Hp, Wp, C) for LePE.
        """
        b, _, length, c = regions.shape
        q, kv = self._project_regions(regions, geometry)
        index = self._route(regions, q, kv, geometry)
        del regions
        # The regions of all images as one batch: image i's regions are rows i * P, ...
        num_regions = geometry.num_regions
        index = index + torch.arange(b, device=kv.device).view(b, 1, 1) * num_regions
        q, kv, index = q.flatten(0, 1), kv.flatten(0, 1), index.flatten(0, 1)
        # On the inference fast path the result overwrites the queries (same shape when the
        # q/k width is the value width, as in every released model).
        out = self.attend_routed(q, kv, index, q if self.qk_dim == c else None)
        (qy, qx), region = geometry.query_grid, geometry.region
        out = window_reverse(out.view(b, qy * qx, length, c), region,
                             (qy * region[0], qx * region[1]))
        del q
        values = kv[..., self.qk_dim:].view(b, num_regions, length, c)
        return crop(out, *geometry.size), window_reverse(values, region, geometry.padded_size)

    def _attend_routed_graph(self, x: torch.Tensor,
                             geometry: RegionGeometry) -> Tuple[torch.Tensor, torch.Tensor]:
        """The routed regime in graph mode: the numbers of :meth:`_attend_routed_regions`, laid
        out so that a graph runtime (onnxruntime, which copies for every slice, transpose and
        gather) copies the ``topk`` times larger routed keys and values once, in the gather.

        Args:
            x: (B, H, W, C) normalised map.

        Returns:
            The attention output (B, H, W, C) and the values (B, Hp, Wp, C) for LePE.
        """
        heads, region = self.num_heads, geometry.region
        (h, w), (qy, qx), (rh, rw) = geometry.size, geometry.query_grid, region
        padded = self._pad(x, geometry)
        # Step 1, one projection per part (a slice of a fused projection would be a copy):
        # keys and values on the padded map, whose values are the map LePE takes; queries,
        # as eagerly, only in the regions holding real tokens, padded from the input (a crop
        # of the padded map would be one more copy; with ``region_size`` every region holds
        # real tokens).
        k, v = self._project_map(padded, 'k'), self._project_map(padded, 'v')
        q_map = padded if self.n_win is None else F.pad(x, (0, 0, 0, qx * rw - w, 0, qy * rh - h))
        q = self._project_map(q_map, 'q')
        # Step 2, heads-major regions (heads, B*regions, L, d), one transpose per map:
        # gathering whole regions of these leaves the routed keys/values of each query region
        # contiguous, (heads, B*qy*qx, topk*L, d), the layout the matmuls read, where routed
        # (region, token, channel) rows would need a slice and a transpose of every copy.
        qh, kh, vh = (_region_heads(t, region, heads) for t in (q, k, v))
        del q, k
        # Step 3, route on the float32 region means (from the input under autocast, as
        # :meth:`_region_means`).
        b = x.shape[0]
        if qh.dtype == x.dtype:
            q_means, k_means = _region_head_means(qh, b), _region_head_means(kh, b)
        else:
            q_means, k_means = self._project_means(
                window_partition(padded, region).mean(2, dtype=torch.float32), geometry)
        del padded
        num_regions = geometry.num_regions
        index = route(q_means, k_means, size_min(self.topk, num_regions), self.scale)
        index = index + torch.arange(b, device=x.device).view(b, 1, 1) * num_regions
        # Step 4, the routed keys and values, gathered once.
        rows = index.reshape(-1)
        kh, vh = (t.index_select(1, rows).view(heads, qh.shape[1], -1, t.shape[-1])
                  for t in (kh, vh))
        # Step 5, attention of every head of every query region at once, back to the map in
        # one transpose.
        out = scaled_dot_product_attention(qh, kh, vh, self.scale)
        return crop(_region_heads_reverse(out, (qy, qx), region), *geometry.size), v

    def _attend(self, x: torch.Tensor, norm: Optional[nn.Module],
                geometry: RegionGeometry) -> Tuple[torch.Tensor, torch.Tensor]:
        """The attention output (B, H, W, C) and the values (B, Hp, Wp, C) of the regime that
        applies: every region routed, or routing (in graph mode its graph formulation)."""
        if self._every_region_routed(geometry):
            return self._attend_all_regions(pre_norm(x, norm), geometry)
        if graph_mode():
            return self._attend_routed_graph(pre_norm(x, norm), geometry)
        return self._attend_routed_regions(self._cut_regions(pre_norm(x, norm), geometry),
                                           geometry)

    def _add_lepe(self, out: torch.Tensor, values: torch.Tensor,
                  geometry: RegionGeometry) -> torch.Tensor:
        """``out`` plus LePE: the depthwise conv of the padded value map, cropped to the map.

        Cropped after the permute back to channels-last (the same view eagerly): in a graph
        the permute then follows the conv directly, which a runtime can fuse into the conv's
        output reorder (onnxruntime's NCHWc layout), where a crop in between is one more copy.
        """
        if self.lepe is None:
            return out
        lepe = self.lepe(values.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last))
        return out + crop(lepe.permute(0, 2, 3, 1), *geometry.size)

    def maps(self, x: torch.Tensor, query: Tuple[int, int],
             norm: Optional[nn.Module] = None) -> RoutingMaps:
        """The routing of every query region and the token attention of the token at ``query``
        (row, column) of ``x``, on the arguments :meth:`forward` takes: its steps (regions,
        projection, routing), with the weights materialised (the fused forward never holds
        them)."""
        geometry = self.region_geometry(x)
        regions = self._cut_regions(pre_norm(x, norm), geometry)
        q, kv = self._project_regions(regions, geometry)
        b = q.shape[0]
        (_, qx), (rh, rw) = geometry.query_grid, geometry.region
        if self._every_region_routed(geometry):
            index = torch.arange(geometry.num_regions, device=x.device).expand(b, q.shape[1], -1)
        else:
            index = self._route(regions, q, kv, geometry)
        row, col = query
        query_region = row // rh * qx + col // rw
        heads, qk = self.num_heads, self.qk_dim
        token = q[:, query_region, row % rh * rw + col % rw].view(b, heads, 1, qk // heads)
        routed = index[:, query_region]  # (B, topk)
        keys = kv[torch.arange(b, device=x.device)[:, None], routed, :, :qk]
        keys = keys.reshape(b, -1, heads, qk // heads).transpose(1, 2)
        weights = attention_weights(token, keys, self.scale)
        return RoutingMaps(geometry.grid, geometry.region, index, query_region,
                           weights.view(b, heads, -1, rh, rw))

    def forward(self, x: torch.Tensor, norm: Optional[nn.Module] = None) -> torch.Tensor:
        """(B, H, W, C) -> (B, H, W, C).

        ``norm``, if given, is applied to ``x`` first (the block's pre-norm). Each step is
        handed the maps it consumes as arguments that nothing else holds, so every map is
        released when the step that uses it last returns (the normalised map once it is cut
        into regions, the routed regime's keys and values before LePE).
        """
        geometry = self.region_geometry(x)
        return self.proj(self._add_lepe(*self._attend(x, norm, geometry), geometry))


class GlobalAttentionLePE(nn.Module):
    """Multi-head self-attention over the whole (B, H, W, C) map plus a depthwise conv of the
    attention's input (LePE); BiFormer's last stage.

    Args:
        dim: channels.
        num_heads: heads (scale ``head_dim ** -0.5``).
        qkv_bias: bias of the q/k/v projection (none in the released model).
        side_dwconv: kernel of the depthwise LePE conv (padding ``kernel // 2``); 0 for none.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False,
                 side_dwconv: int = 5) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.scale = default_scale(dim // num_heads)
        self.qkv = Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = Linear(dim, dim)
        self.lepe = _lepe_conv(dim, side_dwconv)

    def forward(self, x: torch.Tensor, norm: Optional[nn.Module] = None) -> torch.Tensor:
        """(B, H, W, C) -> (B, H, W, C); ``norm``, if given, is applied to ``x`` first."""
        x = pre_norm(x, norm)
        b, h, w, c = x.shape
        q, k, v = self.qkv(x).view(b, h * w, 3, c).unbind(2)
        out = scaled_dot_product_attention(*(_heads(t, self.num_heads) for t in (q, k, v)),
                                           self.scale)
        lepe = None if self.lepe is None else self.lepe(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        out = out.transpose(1, 2).reshape(b, h, w, c)
        return self.proj(out if lepe is None else out + lepe)
