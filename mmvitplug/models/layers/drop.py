"""Stochastic depth schedule shared by the backbones."""
from typing import List, Sequence

import torch


def calculate_drop_path_rates(drop_path_rate: float, depths: Sequence[int]) -> List[List[float]]:
    """Per-stage lists of drop-path rates rising linearly from 0 to ``drop_path_rate`` over all
    blocks (the first block 0, the last ``drop_path_rate``), as in all three papers."""
    if drop_path_rate < 0 or drop_path_rate >= 1:
        raise ValueError(f'drop_path_rate must be in [0, 1), got {drop_path_rate}')
    # On the CPU whatever the default device is: these are Python numbers.
    rates = torch.linspace(0, drop_path_rate, sum(depths), device='cpu').tolist()
    starts = [sum(depths[:i]) for i in range(len(depths))]
    return [rates[start:start + depth] for start, depth in zip(starts, depths)]
