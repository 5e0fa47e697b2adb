"""Inference fast paths through oneDNN (behind the switch of
:mod:`mmvitplug.models.layers.switches`): conv + BatchNorm + activation, and linear layers
(+ activation).

On CPU, without autograd, oneDNN's pointwise-fused kernels (the ones torch.compile's CPU backend
emits) apply the activation while the output is still in cache, and BatchNorm in eval mode
folds into the conv weights, so the separate passes over the map that BatchNorm and the
activation would take are gone. oneDNN's GEMM also runs at the CPU's FMA peak where
``F.linear``'s (MKL's) may not; how far apart the two are depends on the CPU and the library
builds.
The results are the plain ones up to float32 rounding. Training, autograd, tracing, export,
compilation, autocast, other devices and dtypes take the plain ops.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .switches import inference_fast_path

_ACTIVATIONS = {'relu': F.relu, 'gelu': F.gelu}
# oneDNN's post-op algorithm argument: exact (erf) GELU is 'none'; other post-ops take ''
_ALGORITHM = {'gelu': 'none'}


def _onednn_available() -> bool:
    return (torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, '_convolution_pointwise')
            and hasattr(torch.ops.mkldnn, '_linear_pointwise'))


_ONEDNN = _onednn_available()


def fast_path(x: torch.Tensor) -> bool:
    """Whether the oneDNN kernels of this module run for ``x``."""
    # Not under autocast: the fused op would run in float32, not in the autocast dtype.
    return (_ONEDNN and inference_fast_path() and x.device.type == 'cpu'
            and x.dtype == torch.float32 and not torch.is_autocast_enabled('cpu'))


def conv_bn_act(x: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d,
                activation: Optional[str] = None) -> torch.Tensor:
    """``activation(bn(conv(x)))``; ``activation`` is ``'relu'``, ``'gelu'`` (exact) or None."""
    if not (fast_path(x) and not bn.training):
        y = bn(conv(x))
        return y if activation is None else _ACTIVATIONS[activation](y)
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale.view(-1, 1, 1, 1)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return torch.ops.mkldnn._convolution_pointwise(
        x.contiguous(memory_format=torch.channels_last), weight, bias, list(conv.padding),
        list(conv.stride), list(conv.dilation), conv.groups, activation or 'none', [],
        _ALGORITHM.get(activation, ''))


def linear_act(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
               activation: Optional[str] = None) -> torch.Tensor:
    """``activation(F.linear(x, weight, bias))``; ``activation`` is ``'relu'``, ``'gelu'``
    (exact) or None. On the fast path: one oneDNN GEMM with the activation fused."""
    if not fast_path(x):
        y = F.linear(x, weight, bias)
        return y if activation is None else _ACTIVATIONS[activation](y)
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, activation or 'none', [],
                                              _ALGORITHM.get(activation, ''))


class Linear(nn.Linear):
    """:class:`torch.nn.Linear` (same parameters, state_dict keys and initialisation) whose
    inference fast path is oneDNN's GEMM (:func:`linear_act`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear_act(x, self.weight, self.bias)
