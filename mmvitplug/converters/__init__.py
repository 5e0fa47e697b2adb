"""Official checkpoints -> mmvitplug / mmpretrain keys, one module per family, each a
:class:`~mmvitplug.converters.common.FamilyConverter` (rename table, table of the authors'
constructor options, released-layout recognition).

``official_to_mmpretrain(family, state_dict)`` returns the keys of an mmpretrain
``ImageClassifier`` (``backbone.*``, ``head.fc.*``) built from
``official_classifier_cfg(family, official_config)``; det/seg configs load the same file with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
"""
import io
from typing import Dict, Optional

import torch

from . import biformer, fastervit, litv2
from ..utils.checkpoint import CheckpointError, atomic_write, read_state_dict
from .common import FamilyConverter

#: family name -> its converter
CONVERTERS: Dict[str, FamilyConverter] = {
    m.CONVERTER.family: m.CONVERTER for m in (biformer, fastervit, litv2)}

__all__ = [
    'CONVERTERS', 'ConversionError', 'FamilyConverter', 'convert_checkpoint', 'get_converter',
    'load_official_checkpoint', 'official_classifier_cfg', 'official_to_mmpretrain'
]


def get_converter(family: str) -> FamilyConverter:
    """The converter of ``family`` (``'fastervit'``, ``'biformer'`` or ``'litv2'``)."""
    try:
        return CONVERTERS[family]
    except KeyError:
        raise ValueError(f'unknown family {family!r}; converters exist for '
                         f'{sorted(CONVERTERS)}') from None


def official_to_mmpretrain(family: str,
                           official_state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename an official state_dict to mmpretrain ``ImageClassifier`` keys."""
    return get_converter(family).official_to_mmpretrain(official_state_dict)


def official_classifier_cfg(family: str, official_config: dict) -> dict:
    """mmpretrain ``ImageClassifier`` config equivalent to the official model's kwargs."""
    return get_converter(family).official_classifier_cfg(official_config)


class ConversionError(CheckpointError):
    """A checkpoint that cannot be converted; the message says why (tools print it)."""


def load_official_checkpoint(path: str, trust_source: bool = False) -> Dict[str, torch.Tensor]:
    """The weights of an official checkpoint file (under ``model``, ``state_dict`` or bare).

    Loads with ``weights_only=True``; released files that also pickle training objects need
    ``trust_source=True`` (full unpickling: only for files from a trusted source).

    Raises:
        ConversionError: the file is empty, truncated, not a checkpoint, refused by safe
            loading, holds no state_dict or non-finite weights (the message says which).
    """
    try:
        return read_state_dict(path, trust_source)
    except CheckpointError as err:
        raise ConversionError(str(err)) from None


def convert_checkpoint(family: str, src: str, dst: str, official_config: Optional[dict] = None,
                       trust_source: bool = False) -> dict:
    """Convert an official checkpoint file into an mmvitplug one and verify it loads strictly.

    The output holds ``state_dict`` (mmpretrain ``ImageClassifier`` keys: ``backbone.*``,
    ``head.fc.*``) and ``meta``, and loads under ``torch.load(..., weights_only=True)``.
    Without ``official_config`` the released variant is recognised from the key layout.

    Returns:
        The ``meta`` dict written (family, source, official config, mmvitplug arch if known).

    Raises:
        ConversionError: unreadable file, unknown layout, or keys/shapes that do not match the
            architecture (the message lists missing, unexpected and mis-shaped keys).
    """
    from mmvitplug.version import __version__

    converter = get_converter(family)
    official = load_official_checkpoint(src, trust_source)
    arch = None
    if official_config is None:
        try:
            inferred = converter.infer_config(official)
        except (KeyError, ValueError) as err:
            raise ConversionError(str(err)) from None
        arch, official_config = inferred['arch'], inferred['config']
    try:
        converted = converter.official_to_mmpretrain(official)
        cfg = converter.official_classifier_cfg(official_config)
    except (KeyError, ValueError) as err:
        raise ConversionError(str(err)) from None
    _check_loads_strictly(cfg, converted)
    meta = dict(family=family, source=str(src), official_config=official_config, arch=arch,
                mmvitplug_version=__version__)
    buffer = io.BytesIO()
    torch.save(dict(state_dict=converted, meta=meta), buffer)
    atomic_write(dst, buffer.getvalue())  # checked above; whole or not at all
    return meta


def _check_loads_strictly(classifier_cfg: dict, converted: Dict[str, torch.Tensor]) -> None:
    """Load the backbone part into the backbone the config describes; check the head shapes."""
    from mmvitplug.registry import MODELS

    backbone_cfg = dict(classifier_cfg['backbone'])
    backbone = MODELS.build(backbone_cfg)
    expected = {f'backbone.{k}': v.shape for k, v in backbone.state_dict().items()}
    head = classifier_cfg['head']
    expected['head.fc.weight'] = torch.Size([head['num_classes'], head['in_channels']])
    expected['head.fc.bias'] = torch.Size([head['num_classes']])
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    mismatched = sorted(f'{k}: checkpoint {tuple(converted[k].shape)}, model {tuple(s)}'
                        for k, s in expected.items() if k in converted and converted[k].shape != s)
    if missing or unexpected or mismatched:
        lines = ['the checkpoint does not match the architecture:']
        for title, keys in (('missing', missing), ('unexpected', unexpected),
                            ('shape mismatch', mismatched)):
            if keys:
                lines.append(f'  {title} ({len(keys)}): ' + ', '.join(keys[:20]) +
                             (' ...' if len(keys) > 20 else ''))
        raise ConversionError('\n'.join(lines))
