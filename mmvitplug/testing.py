"""References for the tests and the benchmarks, in one copy that both import.

A reference computes what a layer computes, the straightforward way (the authors' formulation),
whatever its memory or speed: the tests take it as the specification the layer must equal, the
benchmarks as the baseline the layer is measured against. Nothing in :mod:`mmvitplug.models`
uses this module.
"""
import torch
import torch.nn as nn

from mmvitplug.models.layers import BiLevelRoutingAttention

__all__ = ['GatherAllBRA', 'gather_all_routed_attention', 'use_gather_all_routing']


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(G, L, C) -> (G, heads, L, C // heads)."""
    return x.unflatten(-1, (num_heads, -1)).transpose(1, 2)


def gather_all_routed_attention(q: torch.Tensor, kv: torch.Tensor, index: torch.Tensor,
                                num_heads: int, scale: float) -> torch.Tensor:
    """:func:`~mmvitplug.models.layers.bra.routed_attention` as the authors compute it: the
    routed keys and values of every query region copied at once, and the logits of all heads
    materialised, so memory grows with ``topk`` times the map.

    Args:
        q: (Gq, Lq, Cqk) queries, one row per query region.
        kv: (G, Lk, Cqk + Cv) keys and values, one row per region.
        index: (Gq, topk) rows of ``kv`` that each query region attends to.
        num_heads, scale: heads and logit scale.

    Returns:
        (Gq, Lq, Cv).
    """
    qk_dim = q.shape[-1]
    selected = kv[index].flatten(1, 2)  # (Gq, topk * Lk, Cqk + Cv)
    k, v = _heads(selected[..., :qk_dim], num_heads), _heads(selected[..., qk_dim:], num_heads)
    logits = (_heads(q, num_heads) * scale) @ k.transpose(-2, -1)
    out = logits.softmax(dim=-1) @ v
    return out.transpose(1, 2).flatten(2)


class GatherAllBRA(BiLevelRoutingAttention):
    """:class:`~mmvitplug.models.layers.BiLevelRoutingAttention` whose token attention is
    :func:`gather_all_routed_attention` (the same parameters and routing)."""

    def attend_routed(self, q: torch.Tensor, kv: torch.Tensor, index: torch.Tensor,
                      out=None) -> torch.Tensor:
        return gather_all_routed_attention(q, kv, index, self.num_heads, self.scale)


def use_gather_all_routing(model: nn.Module) -> nn.Module:
    """Turn every :class:`~mmvitplug.models.layers.BiLevelRoutingAttention` of ``model`` (or
    ``model`` itself) into a :class:`GatherAllBRA`, in place (its class changes, its parameters
    stay), and return ``model``."""
    for module in model.modules():
        if type(module) is BiLevelRoutingAttention:
            module.__class__ = GatherAllBRA
    return model
