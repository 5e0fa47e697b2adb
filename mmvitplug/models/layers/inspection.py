"""What the attention layers' inspection methods (``maps``, ``attention_probs``) share: the
attention weights, which the forward passes never materialise (they run fused attention
kernels), computed from the queries and keys the forward passes use."""
from typing import Optional

import torch

__all__ = ['attention_weights']


def attention_weights(q: torch.Tensor, k: torch.Tensor, scale: float,
                      bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``softmax(scale * q @ k^T + bias)`` over the keys: (..., Lq, Lk) weights of (..., Lq, d)
    queries over (..., Lk, d) keys, ``bias`` (additive, broadcast to the logits) optional."""
    logits = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        logits = logits + bias
    return logits.softmax(dim=-1)
