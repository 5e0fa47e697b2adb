"""The one switch of the inference-only fast paths.

Where nothing needs gradients, some layers compute the same result a faster or leaner way:

* conv + BatchNorm + activation as one oneDNN call, BatchNorm folded into the weights (CPU,
  float32; :func:`mmvitplug.models.layers.conv_bn_act`): the activation is applied while the
  output is still in cache instead of in a second pass over the map;
* linear layers as oneDNN's GEMM, the MLP's GELU fused into it (CPU, float32;
  :class:`mmvitplug.models.layers.fused.Linear`): oneDNN's GEMM reaches the CPU's FMA peak
  where MKL's may not (how much that gains depends on the CPU and its libraries);
* BiFormer's residual updates in place, its MLP over chunks of tokens, and routed attention
  written over its queries through one reused buffer (:mod:`mmvitplug.models.layers.bra`):
  bounded inference memory;
* FasterViT's position MLPs, whose outputs depend only on their weights and the grid, kept per
  grid in eval mode (:class:`mmvitplug.models.layers.position.ResultCache`) instead of being
  evaluated at every call.

They give the plain path's numbers up to float32 round-off. Turn them all off with the
environment variable ``MMVITPLUG_FAST_PATHS=0`` (read at import), or at run time with
:func:`set_fast_paths` or the :func:`fast_paths` context manager, e.g. to profile the plain
layers, to count the operations of the architecture (as
:func:`mmvitplug.utils.complexity.count_macs` does) or to rule the fast paths out when chasing a
numerical difference.
"""
import os
from contextlib import contextmanager
from typing import Iterator

import torch

from .geometry import graph_mode

__all__ = ['fast_paths', 'fast_paths_enabled', 'inference_fast_path', 'set_fast_paths']

_SWITCH = 'MMVITPLUG_FAST_PATHS'
_VALUES = {'1': True, 'true': True, 'on': True, 'yes': True,
           '0': False, 'false': False, 'off': False, 'no': False}


def _from_environment() -> bool:
    value = os.environ.get(_SWITCH, '1').strip().lower()
    if value not in _VALUES:
        raise ValueError(f'{_SWITCH}={os.environ[_SWITCH]!r}: use 1 (default, fast paths on) or '
                         '0 (plain layers only)')
    return _VALUES[value]


_enabled = _from_environment()


def fast_paths_enabled() -> bool:
    """Whether the inference fast paths may be taken (the switch, not the grad mode)."""
    return _enabled


def set_fast_paths(enabled: bool) -> bool:
    """Turn the fast paths on or off for the whole process; returns the previous setting."""
    global _enabled
    previous, _enabled = _enabled, bool(enabled)
    return previous


@contextmanager
def fast_paths(enabled: bool) -> Iterator[None]:
    """``with fast_paths(False): ...`` runs the plain layers only, then restores the switch."""
    previous = set_fast_paths(enabled)
    try:
        yield
    finally:
        set_fast_paths(previous)


def inference_fast_path(*tensors: torch.Tensor) -> bool:
    """True where a layer may take its inference fast path: the switch is on, the model runs
    eagerly (not traced, exported or compiled: the fast paths are eager-only kernels and
    loops) and no autograd graph is recorded, i.e. grad mode is off (``torch.no_grad``,
    ``torch.inference_mode``) or, when ``tensors`` are given, none of them requires grad."""
    if not _enabled or graph_mode():
        return False
    if not torch.is_grad_enabled():
        return True
    return bool(tensors) and not any(t.requires_grad for t in tensors)
