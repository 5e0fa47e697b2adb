"""Precision rules under autocast (bfloat16 / float16), in one place.

What stays in (at least) float32, and why; each rule is applied where the op is:

* sampling positions of the deformable token merging (:mod:`.token_merging`): positions grow
  with the map, and bfloat16 cannot count past 256 in steps of one;
* the coordinate inputs and the evaluation of FasterViT's position MLPs (:mod:`.position`):
  they are coordinates, and the relative position bias sums hundreds of products;
* BiFormer's routing: region means and region-to-region scores (:func:`.bra.route`). They only
  choose which regions each query region attends to; with three significant digits ties and
  near-ties would be broken differently from the float32 model;
* geometry tables and masks are integer or float32 tensors built from ``arange``
  (:mod:`.geometry`).

One exception, a kernel's rather than a rule: a bfloat16 3x3 stride-2 convolution of a map at
most 2 wide runs in float32 on CPUs (:class:`StridedConv2d`, FasterViT's and BiFormer's
downsampling).

What runs in the autocast dtype: the projections, convolutions and MLPs (where the speed is),
and attention through ``scaled_dot_product_attention``, whose CPU and CUDA kernels keep the
softmax's running max and sum in float32 (so no explicit upcast is needed; bias and masks are
passed in the query's dtype, as the kernels require). LayerNorm and BatchNorm are float32 under
autocast by PyTorch's own policy. The CPU fast paths (fused oneDNN convolutions) are float32-only
kernels and are skipped under autocast.
"""
from contextlib import nullcontext

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['StridedConv2d', 'autocast_off']


def autocast_off(device: torch.device):
    """A context with autocast disabled on ``device``'s type (a no-op where a device type has
    no autocast, e.g. ``meta``)."""
    device_type = torch.device(device).type
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()


def _cpu_bfloat16(x: torch.Tensor) -> bool:
    """Whether a convolution of ``x`` runs in bfloat16 on the CPU (input or autocast dtype)."""
    if x.device.type != 'cpu':
        return False
    if x.dtype == torch.bfloat16:
        return True
    return torch.is_autocast_enabled('cpu') and torch.get_autocast_dtype('cpu') == torch.bfloat16


class StridedConv2d(nn.Conv2d):
    """:class:`torch.nn.Conv2d` (same parameters and keys) for the 3x3 stride-2 downsampling,
    computed in float32 where torch 2.14's oneDNN bfloat16 kernel is wrong.

    On CPUs with AMX that kernel returns values off by about 100%, sometimes NaN, for maps at
    most 2 wide (output width 1) and at least 3 high with >= 128 channels (the stage-3
    downsampling of inputs at most 32 wide). For maps at most 2 wide under bfloat16 the operands
    are rounded to bfloat16, convolved in float32 and the result rounded to bfloat16: what a
    correct bfloat16 kernel computes (bfloat16 operands, float32 accumulation), on every CPU, at
    the cost of a float32 convolution of a map a few pixels in size. Everything else, and every
    float32 or traced graph, is :class:`torch.nn.Conv2d`'s own path.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (_cpu_bfloat16(x) and x.shape[-1] <= 2):
            return super().forward(x)
        with autocast_off(x.device):
            y = F.conv2d(_bfloat16_values(x), _bfloat16_values(self.weight),
                         _bfloat16_values(self.bias), self.stride, self.padding, self.dilation,
                         self.groups)
        return y.to(torch.bfloat16)


def _bfloat16_values(t):
    """``t`` rounded to bfloat16, held in float32 (None stays None)."""
    return None if t is None else t.to(torch.bfloat16).float()
