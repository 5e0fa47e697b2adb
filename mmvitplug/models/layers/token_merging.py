"""Deformable token merging (LITv2): a 2x2 stride-2 deformable convolution (DCN v1) whose sampling
offsets come from a 2x2 stride-2 conv, then BatchNorm and GELU."""
import math

import torch
import torch.nn as nn

from .fused import linear_act
from .geometry import clamp_index


def deform_conv2d_2x2(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                      bias: torch.Tensor) -> torch.Tensor:
    """DCN v1 with a 2x2 kernel, stride 2 and no padding, on a channels-last map, in PyTorch ops.

    It follows the arithmetic of the authors' CUDA kernel and of
    ``torchvision.ops.deform_conv2d(x_nchw, offset, weight, bias, stride=2)`` (same sampling
    positions, bilinear weights and zero corners outside the map; the same numbers up to float32
    round-off), but gathers whole channel rows of the channels-last map and does the weighting
    in one matrix product, where torchvision's im2col kernel gathers channel by channel; it is
    autograd-compatible, and its output is channels-last.

    Args:
        x: (B, H, W, C) with H, W >= 2.
        offset: (B, 8, Ho, Wo), (dy, dx) for the taps (0, 0), (0, 1), (1, 0), (1, 1), with
            Ho = floor(H / 2), Wo = floor(W / 2).
        weight: (O, C, 2, 2).
        bias: (O, ).

    Returns:
        (B, Ho, Wo, O).
    """
    b, h, w, c = x.shape
    ho, wo = offset.shape[-2:]
    # Sampling positions in at least float32 whatever the input's dtype: bfloat16 cannot count
    # past 256 in steps of one, so positions on wider maps would land on the wrong pixels.
    opts = dict(dtype=torch.promote_types(x.dtype, torch.float32), device=x.device)
    # (B, Ho, Wo, tap, yx)
    offset = offset.to(opts['dtype']).view(b, 4, 2, ho, wo).permute(0, 3, 4, 1, 2)
    tap_y = torch.tensor([0., 0., 1., 1.], **opts)
    tap_x = torch.tensor([0., 1., 0., 1.], **opts)
    pos_y = (torch.arange(ho, **opts) * 2).view(1, ho, 1, 1) + tap_y + offset[..., 0]
    pos_x = (torch.arange(wo, **opts) * 2).view(1, 1, wo, 1) + tap_x + offset[..., 1]
    inside = (pos_y > -1) & (pos_x > -1) & (pos_y < h) & (pos_x < w)
    y0, x0 = pos_y.floor(), pos_x.floor()
    frac_y, frac_x = pos_y - y0, pos_x - x0
    y0, x0 = y0.long(), x0.long()
    rows = x.reshape(b * h * w, c)
    batch_start = (torch.arange(b, device=x.device) * (h * w)).view(b, 1, 1, 1)
    sampled = None
    for cy, cx, corner_weight in ((y0, x0, (1 - frac_y) * (1 - frac_x)),
                                  (y0, x0 + 1, (1 - frac_y) * frac_x),
                                  (y0 + 1, x0, frac_y * (1 - frac_x)),
                                  (y0 + 1, x0 + 1, frac_y * frac_x)):
        valid = inside & (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
        # clamp_index, not clamp: an integer clamp makes the opset-11 ONNX graph invalid.
        index = batch_start + clamp_index(cy, h) * w + clamp_index(cx, w)
        values = rows.index_select(0, index.reshape(-1)).view(b, ho, wo, 4, c)
        corner_weight = torch.where(valid, corner_weight, 0).unsqueeze(-1).to(x.dtype)
        sampled = values * corner_weight if sampled is None \
            else torch.addcmul(sampled, values, corner_weight)
    # Columns are ordered (tap, channel); order the kernel the same way.
    kernel = weight.permute(0, 2, 3, 1).reshape(weight.shape[0], 4 * c)
    return linear_act(sampled.view(b, ho, wo, 4 * c), kernel, bias)


class DeformableTokenMerging(nn.Module):
    """Downsample an NCHW map by 2 with deformable token merging (fastest on channels-last
    memory, which the output keeps).

    Odd sides are floored (no padding), as in the released models.

    Args:
        in_channels: input channels.
        out_channels: output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 2, 2))
        self.bias = nn.Parameter(torch.empty(out_channels))
        # (dy, dx) per kernel tap; zero-initialised so training starts as a plain 2x2 conv.
        self.conv_offset = nn.Conv2d(in_channels, 8, 2, stride=2)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.GELU()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(self.weight[0].numel())
        nn.init.uniform_(self.bias, -bound, bound)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, out_channels, floor(H/2), floor(W/2)), H, W >= 2."""
        offset = self.conv_offset(x)
        out = deform_conv2d_2x2(x.permute(0, 2, 3, 1), offset, self.weight, self.bias)
        # BatchNorm and GELU on the channels-last NCHW view: no copies.
        return self.act(self.norm(out.permute(0, 3, 1, 2)))
