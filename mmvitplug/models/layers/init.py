"""The weight initialisation that all three papers' transformers share."""
import torch.nn as nn


def init_transformer_weights(module: nn.Module) -> None:
    """Truncated normal (std 0.02) linear weights with zero biases and unit/zero norms, for
    every submodule of ``module``; convolutions keep PyTorch's default. The three authors'
    scheme for training from scratch."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LayerNorm, nn.modules.batchnorm._BatchNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
