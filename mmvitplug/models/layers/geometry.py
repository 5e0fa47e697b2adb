"""Geometry derived from the input, written once for every road: eager, ``torch.jit.trace``
(mmengine's complexity counter, the TorchScript ONNX exporter), ``torch.export`` / the dynamo
ONNX exporter and ``torch.compile``.

* Sizes are only combined with integer arithmetic (``+``, ``*``, ``//`` of non-negative
  values) that works alike on Python ints, on the 0-dim tensors a tracer hands out for
  ``x.shape`` and on the symbolic ints of dynamo, so a traced or exported graph keeps them
  symbolic. No ``math.ceil``, no ``int(...)``, no Python branch on a size in graph mode.
* Index tables and masks are built from ``torch.arange`` on the input's device. In eager mode
  they are cached per (size, device) in small bounded caches, so steady-state inference builds
  and copies nothing; in graph mode they are part of the graph. The process-wide caches are
  made by :func:`shared_cache` and all emptied by :func:`clear_caches`.
* :func:`graph_mode` tells the layers to take their graph formulation: the same numbers as the
  eager one (which may skip work or bound memory with Python loops and branches on sizes), with
  no loop or branch whose trip count or direction depends on the input size.
"""
from collections import OrderedDict
from typing import Callable, Dict, Hashable, Optional, Tuple, TypeVar

import torch

T = TypeVar('T')

__all__ = ['GeometryCache', 'as_pair', 'averaging_matrix', 'ceil_div', 'clamp_index',
           'clear_caches', 'crop', 'graph_mode', 'merge_heads', 'pad_amount', 'shared_cache',
           'shared_caches', 'size_max', 'size_min']


def graph_mode() -> bool:
    """True while tracing (``torch.jit.trace``, ONNX export) or compiling / exporting with
    dynamo: the layers must then compute geometry without size-dependent Python control flow."""
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
                or torch.compiler.is_compiling())


def ceil_div(size, divisor):
    """``ceil(size / divisor)`` of a size >= 0, for ints, traced 0-dim tensors and symbolic
    ints. Written without negative operands: ONNX's integer division truncates towards zero,
    so the usual ``-(-size // divisor)`` would export wrong."""
    return (size + divisor - 1) // divisor


def pad_amount(size, multiple):
    """How much to add to a size >= 0 to reach a multiple of ``multiple``."""
    return ceil_div(size, multiple) * multiple - size


def _extremum(a, b, largest: bool):
    """``max(a, b)`` or ``min(a, b)`` of sizes, symbolic where either is (a traced 0-dim
    tensor stays a graph op, a symbolic int a symbolic expression)."""
    tensor = a if isinstance(a, torch.Tensor) else b if isinstance(b, torch.Tensor) else None
    if tensor is not None:
        other = b if tensor is a else a
        return torch.clamp(tensor, min=other) if largest else torch.clamp(tensor, max=other)
    if isinstance(a, torch.SymInt) or isinstance(b, torch.SymInt):
        return (torch.sym_max if largest else torch.sym_min)(a, b)
    return max(a, b) if largest else min(a, b)


def clamp_index(index: torch.Tensor, size) -> torch.Tensor:
    """``index.clamp(0, size - 1)`` of an integer tensor, ``size`` an int or a traced size.

    Written as selects: ONNX's Clip takes integer inputs only from opset 12, so an integer
    ``clamp`` in a traced graph makes the opset-11 export invalid (onnxruntime rejects it).
    The same integers as ``clamp`` on every road."""
    index = torch.where(index < 0, 0, index)
    return torch.where(index > size - 1, size - 1, index)


def size_max(a, b):
    """``max(a, b)`` of sizes (ints, traced 0-dim tensors or symbolic ints)."""
    return _extremum(a, b, largest=True)


def size_min(a, b):
    """``min(a, b)`` of sizes (ints, traced 0-dim tensors or symbolic ints)."""
    return _extremum(a, b, largest=False)


class GeometryCache:
    """A bounded, least-recently-used cache of geometry tables keyed by sizes and device, for
    eager mode (in graph mode :meth:`get` computes without caching, so the computation is part
    of the graph).

    Args:
        maxsize: entries kept; older ones are dropped (a multi-scale training run visits a few
            dozen sizes at most).
    """

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._entries: 'OrderedDict[Hashable, object]' = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T],
            keep: Optional[Callable[[T], bool]] = None) -> T:
        """The entry of ``key``, computed on a miss and stored unless ``keep(value)`` is
        false."""
        if graph_mode():
            return compute()
        value = self._entries.get(key)
        if value is None:
            value = compute()
            if keep is not None and not keep(value):
                return value
            self._entries[key] = value
            if len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


# The process-wide caches, by name: one per kind of table, owned here so that one call empties
# them all.
_SHARED: Dict[str, GeometryCache] = {}


def shared_cache(name: str, maxsize: int = 64) -> GeometryCache:
    """The process-wide :class:`GeometryCache` of the tables called ``name`` (created on first
    use), one of those :func:`clear_caches` empties."""
    return _SHARED.setdefault(name, GeometryCache(maxsize))


def shared_caches() -> Dict[str, GeometryCache]:
    """The process-wide geometry caches, by name."""
    return dict(_SHARED)


def clear_caches() -> None:
    """Empty every process-wide geometry cache, e.g. to release the tables of sizes that will
    not come again (each cache is bounded anyway). The position MLPs' kept results belong to
    their modules (:class:`~mmvitplug.models.layers.position.ResultCache`)."""
    for cache in _SHARED.values():
        cache.clear()


def averaging_matrix(length, starts: torch.Tensor, ends: torch.Tensor,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n, length) matrix whose row ``i`` averages positions ``starts[i] <= j < ends[i]``: an
    average pooling along one axis as a matrix product, for pooling geometries that a graph
    must keep symbolic (ONNX pooling ops need constant kernels)."""
    j = torch.arange(length, device=starts.device)
    inside = (j >= starts[:, None]) & (j < ends[:, None])
    return inside.to(dtype) / (ends - starts)[:, None].to(dtype)


def crop(x: torch.Tensor, size_h, size_w, first_dim: int = 1) -> torch.Tensor:
    """The top-left ``size_h x size_w`` of a padded map whose height is dimension
    ``first_dim`` (width the next one).

    A view, except under dynamo (``torch.compile``, ``torch.export``): there it is a gather, so
    that the result's strides do not tie the symbolic size to the padded one (a view would
    make dynamo assume the sample's padding, e.g. none, for every size).
    """
    if torch.compiler.is_compiling():
        for dim, size in ((first_dim, size_h), (first_dim + 1, size_w)):
            x = x.index_select(dim, torch.arange(size, device=x.device))
        return x
    return x.narrow(first_dim, 0, size_h).narrow(first_dim + 1, 0, size_w)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(G, heads, L, d) attention output -> (G, L, heads * d).

    Under dynamo the transposed output is first copied to a fixed layout: attention kernels
    (and their fake implementations, which export traces) return different memory layouts, so
    a graph that recorded a view for one of them breaks on another.
    """
    x = x.transpose(1, 2)
    if torch.compiler.is_compiling():
        x = x.clone(memory_format=torch.contiguous_format)
    return x.reshape(x.shape[0], x.shape[1], -1)


def as_pair(size) -> Tuple:
    """``(size, size)`` for one value, the pair otherwise."""
    return (size, size) if not isinstance(size, (tuple, list)) else (size[0], size[1])
