"""One pre-norm transformer block, parameterised by its attention and MLP (as DINOv2's
``Block``): BiFormer's and LITv2's blocks are this block, FasterViT's HAT blocks reuse its
parameters and residual rule around their window partition."""
from typing import Optional

import torch
import torch.nn as nn
from torchvision.ops import StochasticDepth


class TransformerBlock(nn.Module):
    """``x + drop_path(gamma1 * attn(x, norm1))``, then ``x + drop_path(gamma2 * mlp(norm2(x)))``.

    ``forward`` takes an NCHW map (channels-last memory inside the backbones, so the permute to
    (B, H, W, C) tokens is a view) and :meth:`forward_tokens` the (B, H, W, C) tokens.

    The attention is called as ``attn(x, norm1)``, with the block's pre-norm, rather than as
    ``attn(norm1(x))``: the attention then owns the normalised map, so it can pad it (HiLo)
    or free it as soon as it is cut into regions (BRA).

    Args:
        dim: token channels.
        attn: the token mixer, ``attn(x, norm) -> x`` on (B, H, W, C); None for an MLP-only
            block (LITv2's first stages), which then has no ``norm1``.
        mlp: the feed-forward network on (B, H, W, C) (:class:`Mlp`, :class:`ConvFFN`); None
            for an attention-only block (the plug-in attention modules), which then has no
            ``norm2``.
        pos_embed: a position encoding that a subclass applies in its own ``forward``
            (registered first, as in the authors' layouts); the plain block has none.
        drop_path: stochastic depth rate of both residual branches (per sample).
        layer_scale: initial value of the per-channel scales ``gamma1`` and ``gamma2``; None for
            no layer scale.
        norm_eps: epsilon of the two LayerNorms.
    """

    def __init__(self, dim: int, attn: Optional[nn.Module], mlp: Optional[nn.Module],
                 pos_embed: Optional[nn.Module] = None, drop_path: float = 0.0,
                 layer_scale: Optional[float] = None, norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.pos_embed = pos_embed
        if attn is not None:
            self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = attn
        if mlp is not None:
            self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = mlp
        self.gamma1 = self.gamma2 = None
        if layer_scale is not None:
            self.gamma1 = nn.Parameter(torch.full((dim, ), float(layer_scale)))
            if mlp is not None:
                self.gamma2 = nn.Parameter(torch.full((dim, ), float(layer_scale)))
        # 'row': one decision per sample (per image on maps, per window on window tokens).
        self.drop_path = StochasticDepth(drop_path, mode='row')

    def residual(self, x: torch.Tensor, branch: torch.Tensor,
                 gamma: Optional[torch.Tensor]) -> torch.Tensor:
        """``x + drop_path(gamma * branch)`` (no scale where ``gamma`` is None)."""
        return x + self.drop_path(branch if gamma is None else branch * gamma)

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, H, W, C)."""
        if self.attn is not None:
            x = self.residual(x, self.attn(x, self.norm1), self.gamma1)
        if self.mlp is None:
            return x
        return self.residual(x, self.mlp(self.norm2(x)), self.gamma2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return self.forward_tokens(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
