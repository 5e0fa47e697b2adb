"""Scaled-dot-product attention for every road: PyTorch's fused kernel, written out as matrix
products and a softmax in graphs traced by the TorchScript ONNX exporter."""
import math
from typing import Optional

import torch
import torch.nn.functional as F

from .inspection import attention_weights

__all__ = ['default_scale', 'scaled_dot_product_attention']


def default_scale(head_dim: int) -> float:
    """The logit scale ``F.scaled_dot_product_attention`` uses without ``scale``:
    ``1 / sqrt(head_dim)`` in double precision, to the bit (``head_dim ** -0.5`` differs in the
    last bit for e.g. 32), so passing it explicitly changes no number."""
    return 1.0 / math.sqrt(head_dim)


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 scale: float,
                                 attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``F.scaled_dot_product_attention(q, k, v, attn_mask, scale=scale)`` (no dropout, not
    causal; ``attn_mask`` additive).

    Eagerly, under ``torch.jit.trace``, ``torch.compile`` and the dynamo ONNX exporter it is the
    fused op itself. In a graph traced by the TorchScript ONNX exporter it is
    ``softmax(scale * q @ k^T + attn_mask) @ v`` (:func:`.inspection.attention_weights`): why,
    ``aten::scaled_dot_product_attention`` has no ONNX symbolic below opset 14, so exports at
    opsets 11-13 would fail; written out, every opset from 11 takes it, and from 14 on the graph
    is the MatMul / Softmax / MatMul that PyTorch's own symbolic emits (which splits the scale
    as ``sqrt(scale)`` on q and on k: the same up to float32 rounding).
    """
    if not (torch.jit.is_tracing() and torch.onnx.is_in_onnx_export()):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=scale)
    return attention_weights(q, k, scale, attn_mask) @ v
