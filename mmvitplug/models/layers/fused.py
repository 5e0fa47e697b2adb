"""Inference fast path that fuses conv, BatchNorm and activation (behind the switch of
:mod:`mmvitplug.models.layers.fast_paths`).

On CPU, without autograd, oneDNN's pointwise-fused convolution (the kernel torch.compile's CPU
backend emits) applies the activation while the output is still in cache, and BatchNorm in
eval mode folds into the conv weights; on this project's CPU that halves the time of the conv
stages (an activation pass over a large map costs as much as the conv). The results are
the unfused ones up to float32 rounding. Training, autograd, other devices and dtypes take the
plain modules.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fast_paths import inference_fast_path

_ACTIVATIONS = {'relu': F.relu, 'gelu': F.gelu}


def _onednn_available() -> bool:
    return (torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, '_convolution_pointwise'))


_ONEDNN = _onednn_available()


def _fast_path(x: torch.Tensor) -> bool:
    # Not under autocast: the fused op would run in float32, not in the autocast dtype.
    return (_ONEDNN and inference_fast_path() and x.device.type == 'cpu'
            and x.dtype == torch.float32 and not torch.is_autocast_enabled('cpu'))


def conv_bn_act(x: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d,
                activation: Optional[str] = None) -> torch.Tensor:
    """``activation(bn(conv(x)))``; ``activation`` is ``'relu'``, ``'gelu'`` (exact) or None."""
    if not (_fast_path(x) and not bn.training):
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
        'none' if activation == 'gelu' else '')
