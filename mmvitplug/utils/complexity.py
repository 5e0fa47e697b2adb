"""Multiply-adds and parameters of a model at a fixed input shape.

Convention (as in the papers): one multiply-add is one FLOP. Counted: convolutions, linear
layers, matrix products and the attention products (``q @ k^T`` and ``attn @ v``, whether
written as matmuls or run by a fused attention kernel); normalisation, activations, softmax and
elementwise ops are not. Counting uses PyTorch's dispatch-level :class:`FlopCounterMode`, so it
follows the ops the forward pass actually runs (routed attention counts the routed keys only,
padded tokens count where the model computes them), with formulas added for the CPU kernels it
does not know: the fused CPU attention and oneDNN's fused conv / linear + activation.
"""
from typing import Any, Callable, Dict, Iterable, Tuple

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from mmvitplug.models.layers.position import evaluating_every_call

__all__ = ['count_macs', 'macs_under', 'parameter_count', 'parts']


def _fused_conv_flop(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
    """oneDNN's ``_convolution_pointwise``: 2 x output elements x (in/groups x kernel area)."""
    per_output = w_shape[1]
    for k in w_shape[2:]:
        per_output *= k
    numel = 1
    for s in out_shape:
        numel *= s
    return 2 * numel * per_output


def _fused_linear_flop(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
    """oneDNN's ``_linear_pointwise``: 2 x output elements x input features."""
    numel = 1
    for s in out_shape:
        numel *= s
    return 2 * numel * w_shape[1]


def _cpu_attention_flop(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
    """The fused CPU attention kernel: the two attention products."""
    return sdpa_flop_count(q_shape, k_shape, v_shape)


def _custom_formulas() -> Dict[Any, Callable]:
    formulas = {}
    if hasattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu'):
        formulas[torch.ops.aten._scaled_dot_product_flash_attention_for_cpu] = _cpu_attention_flop
    if hasattr(torch.ops.mkldnn, '_convolution_pointwise'):
        formulas[torch.ops.mkldnn._convolution_pointwise] = _fused_conv_flop
    if hasattr(torch.ops.mkldnn, '_linear_pointwise'):
        formulas[torch.ops.mkldnn._linear_pointwise] = _fused_linear_flop
    return formulas


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
        # Results that inference keeps between calls (position MLPs) count as computed: the
        # count is the architecture's, whatever ran before.
        with counter, evaluating_every_call():
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
