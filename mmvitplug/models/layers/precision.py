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

What runs in the autocast dtype: the projections, convolutions and MLPs (where the speed is),
and attention through ``scaled_dot_product_attention``, whose CPU and CUDA kernels keep the
softmax's running max and sum in float32 (so no explicit upcast is needed; bias and masks are
passed in the query's dtype, as the kernels require). LayerNorm and BatchNorm are float32 under
autocast by PyTorch's own policy. The CPU fast paths (fused oneDNN convolutions) are float32-only
kernels and are skipped under autocast.
"""
from contextlib import nullcontext

import torch

__all__ = ['autocast_off']


def autocast_off(device: torch.device):
    """A context with autocast disabled on ``device``'s type (a no-op where a device type has
    no autocast, e.g. ``meta``)."""
    device_type = torch.device(device).type
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()
