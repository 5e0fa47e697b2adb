"""Pieces shared by the per-family converter modules."""
import re
from typing import Callable, Dict, Sequence, Tuple

import torch


def rename(key: str, renames: Sequence[Tuple[str, object]]) -> str:
    """``key`` with the ``(pattern, replacement)`` regex substitutions applied in order."""
    for pattern, repl in renames:
        key = re.sub(pattern, repl, key)
    return key


def classifier_keys(state_dict: Dict[str, torch.Tensor],
                    convert_backbone_key: Callable[[str], str]) -> Dict[str, torch.Tensor]:
    """Official classifier weights -> mmpretrain ``ImageClassifier`` keys: ``head.*`` becomes
    ``head.fc.*``, every other key ``backbone.<converted key>``."""
    converted = {}
    for key, value in state_dict.items():
        if key.startswith('head.'):
            converted['head.fc.' + key[len('head.'):]] = value
        else:
            converted['backbone.' + convert_backbone_key(key)] = value
    return converted


def image_classifier(backbone: dict, num_classes: int, in_channels: int) -> dict:
    """mmpretrain ``ImageClassifier`` config: ``backbone``, global average pooling, linear head."""
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=in_channels,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


def refuse_unreleased(family: str, config: dict, released_only) -> None:
    """ValueError for official constructor options set to values no released model uses."""
    for key, released in released_only:
        if config.get(key, released) != released:
            raise ValueError(f'mmvitplug {family} implements {key}={released!r} (as every '
                             f'released model), got {config[key]!r}')
