"""The transformer MLP: two linear layers around a GELU."""
import torch
import torch.nn as nn

from .fused import Linear, fast_path as fused_fast_path, linear_act


class Mlp(nn.Module):
    """Linear -> GELU -> Linear on the last dimension.

    Args:
        dim: input and output channels.
        hidden_dim: channels between the two linear layers.
    """

    #: Every token is computed on its own, so the MLP may run over chunks of tokens.
    token_wise = True

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = Linear(dim, hidden_dim)
        self._make_hidden_layers(hidden_dim)
        self.act = nn.GELU()
        self.fc2 = Linear(hidden_dim, dim)

    def _make_hidden_layers(self, hidden_dim: int) -> None:
        """Layers on the hidden activations before the GELU (subclasses; none here)."""

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """What those layers do to the hidden activations."""
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fuse_activation(x):
            # Nothing between fc1 and the GELU: one oneDNN GEMM with the activation fused
            hidden = linear_act(x, self.fc1.weight, self.fc1.bias, 'gelu')
        else:
            hidden = self.act(self.hidden(self.fc1(x)))
        return self.fc2(hidden)

    def _fuse_activation(self, x: torch.Tensor) -> bool:
        # fc1 is bypassed, so not where a hook watches it
        return (fused_fast_path(x) and type(self).hidden is Mlp.hidden
                and type(self.act) is nn.GELU and self.act.approximate == 'none'
                and not (self.fc1._forward_hooks or self.fc1._forward_pre_hooks))
