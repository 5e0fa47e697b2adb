"""Multiply-adds and parameters of a model at a fixed input shape.

Convention (as in the papers): one multiply-add is one FLOP. Counted: convolutions, linear
layers, matrix products and the attention products (``q @ k^T`` and ``attn @ v``, whether
written as matmuls or run by a fused attention kernel); normalisation, activations, softmax and
elementwise ops are not. Counting uses PyTorch's dispatch-level :class:`FlopCounterMode`, so it
follows the ops the forward pass actually runs (routed attention counts the routed keys only,
padded tokens count where the model computes them). It runs the plain layers
(:func:`~mmvitplug.models.layers.fast_paths` off): the count is the architecture's, not that of
the inference fast paths' fused kernels or kept results. One formula is added, for the fused
CPU attention kernel, which the counter does not know.
"""
from typing import Any, Callable, Dict, Iterable, Tuple

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from mmvitplug.models.layers import fast_paths

__all__ = ['count_macs', 'macs_under', 'parameter_count', 'parts']


def _cpu_attention_flop(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
    """The fused CPU attention kernel: the two attention products."""
    return sdpa_flop_count(q_shape, k_shape, v_shape)


def _custom_formulas() -> Dict[Any, Callable]:
    cpu_attention = getattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu', None)
    return {} if cpu_attention is None else {cpu_attention: _cpu_attention_flop}


def count_macs(model: nn.Module, run: Callable[[], Any]) -> Dict[str, int]:
    """Multiply-adds of ``run()`` (a forward pass through ``model`` or some of its modules),
    per module.

    Returns:
        ``{'': total, 'backbone': ..., 'backbone.stages.0.blocks.1': ..., ...}``: the
        multiply-adds of every module of ``model`` that was called (names as in
        ``model.named_modules()``; a module called several times sums its calls).
    """
    counter = FlopCounterMode(display=False, depth=0, custom_mapping=_custom_formulas())
    macs: Dict[str, int] = {}
    starts = []

    def enter(module, args):
        starts.append(counter.get_total_flops())

    def leave(name):
        def hook(module, args, output):
            macs[name] = macs.get(name, 0) + (counter.get_total_flops() - starts.pop()) // 2
        return hook

    handles = []
    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_pre_hook(enter))
            handles.append(module.register_forward_hook(leave(name)))
    try:
        # The plain layers: fused kernels and results kept between calls (position MLPs) would
        # count as something else than the architecture, or not at all.
        with counter, fast_paths(False):
            run()
    finally:
        for handle in handles:
            handle.remove()
    macs[''] = counter.get_total_flops() // 2
    return macs


def parameter_count(model: nn.Module, prefixes: Iterable[str] = ('', )) -> Tuple[int, ...]:
    """Number of parameters under each module-name prefix (``''``: all)."""
    named = list(model.named_parameters())
    return tuple(
        sum(p.numel() for n, p in named if not prefix or n == prefix or n.startswith(prefix + '.'))
        for prefix in prefixes)


def macs_under(macs: Dict[str, int], prefix: str) -> int:
    """Multiply-adds of the module ``prefix`` and everything under it, from :func:`count_macs`.

    Containers that are never called themselves (a ``ModuleList`` of stages, a stage whose
    blocks the backbone calls one by one) have no entry; their parts are summed instead, each
    counted once (outermost called modules only).
    """
    if prefix in macs:
        return macs[prefix]
    under = [k for k in macs if k.startswith(prefix + '.') or not prefix]
    return sum(macs[k] for k in under
               if not any(k.startswith(o + '.') for o in under if o != k))


def parts(model: nn.Module) -> Tuple[str, ...]:
    """The direct children of ``model``, with module lists and dicts (stage lists) opened one
    level: the rows of a per-part report."""
    names = []
    for name, child in model.named_children():
        if isinstance(child, (nn.ModuleList, nn.ModuleDict)):
            names += [f'{name}.{sub}' for sub, _ in child.named_children()]
        else:
            names.append(name)
    return tuple(names)
