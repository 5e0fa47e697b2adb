"""The transformer MLP: two linear layers around a GELU."""
import torch
import torch.nn as nn


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
        self.fc1 = nn.Linear(dim, hidden_dim)
        self._make_hidden_layers(hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def _make_hidden_layers(self, hidden_dim: int) -> None:
        """Layers on the hidden activations before the GELU (subclasses; none here)."""

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """What those layers do to the hidden activations."""
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.hidden(self.fc1(x))))
