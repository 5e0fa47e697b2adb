"""The backbones' ``Pretrained`` init: load, check that the file fits, never load nothing.

mmengine's ``PretrainedInit`` loads non-strictly and only logs the keys it could not place, so
a FasterViT config pointed at a LITv2 file (or at the authors' unconverted release, whose keys
lack the ``backbone.`` prefix) trains a randomly initialised backbone after one warning line.
:func:`load_pretrained` reads the file through the checked reader of
:mod:`mmvitplug.utils.checkpoint` (safe loading, one clear error per broken file, no NaN
weights), and refuses a checkpoint that would leave more than ``max_unloaded`` of the
backbone's values unloaded or mis-shaped; a file in the authors' original layout is converted on
the fly by the family's converter, with a note saying how to convert it once.
"""
from typing import Dict, Optional

import torch
from mmengine.logging import print_log

from ...utils.checkpoint import (CheckpointError, LoadReport, check_finite, match_state_dict,
                                 read_state_dict, state_dict_of)

#: default share of a backbone's values that a pretrained checkpoint may leave unloaded: room
#: for the output norms a classifier checkpoint lacks (``norm0``-``norm2``) and a re-shaped
#: first convolution, far below anything that is another model's file
MAX_UNLOADED = 0.01
_KEYS = ('type', 'checkpoint', 'prefix', 'map_location', 'max_unloaded')


def _read(checkpoint: str) -> Dict[str, torch.Tensor]:
    if '://' in checkpoint:  # URLs and mmengine's schemes: its loader downloads and caches
        from mmengine.runner import CheckpointLoader
        state_dict = state_dict_of(CheckpointLoader.load_checkpoint(
            checkpoint, map_location='cpu', logger='current'), checkpoint)
        check_finite(state_dict, checkpoint)
        return state_dict
    return read_state_dict(checkpoint)


def _authors_layout(backbone, state_dict: Dict[str, torch.Tensor]) -> Optional[dict]:
    """The backbone keys of ``state_dict`` read as the authors' release (None when the family's
    converter refuses it)."""
    from mmvitplug.converters import get_converter
    try:
        converted = get_converter(backbone.family.lower()).official_to_mmpretrain(state_dict)
    except (KeyError, ValueError):
        return None
    return {k[len('backbone.'):]: v for k, v in converted.items() if k.startswith('backbone.')}


def load_pretrained(backbone, init_cfg: dict) -> LoadReport:
    """Load a ``dict(type='Pretrained', checkpoint=..., prefix=None, max_unloaded=0.01)`` init
    config into ``backbone`` (a :class:`HierarchicalBackbone`).

    ``prefix`` selects and strips the keys of a whole-model checkpoint (``'backbone.'`` for the
    converters' files and for detectors, segmentors and classifiers). ``max_unloaded`` is the
    share of the backbone's values (elements of parameters and buffers) that may stay
    unloaded or mis-shaped; set it to 1.0 to load whatever fits on purpose.

    Raises:
        CheckpointError: the file does not load (see :func:`read_checkpoint`), holds NaN/inf,
            or does not fit: the message names the file, the counts, and the first missing and
            mis-shaped keys.
        ValueError: an unknown key in ``init_cfg``.
    """
    unknown = sorted(set(init_cfg) - set(_KEYS))
    if unknown:
        raise ValueError(f'unknown keys {unknown} in the Pretrained init_cfg of {backbone.family} '
                         f'(it takes {", ".join(_KEYS[1:])})')
    checkpoint = str(init_cfg['checkpoint'])
    prefix = init_cfg.get('prefix') or ''
    if prefix and not prefix.endswith('.'):
        prefix += '.'
    max_unloaded = float(init_cfg.get('max_unloaded', MAX_UNLOADED))
    state_dict = _read(checkpoint)

    own = backbone.state_dict()
    selected = {backbone.current_key(k[len(prefix):]): v for k, v in state_dict.items()
                if k.startswith(prefix)}
    report = match_state_dict(own, selected)
    if report.unloaded_fraction > max_unloaded:
        official = _authors_layout(backbone, state_dict)
        converted = None if official is None else match_state_dict(own, official)
        if converted is not None and converted.unloaded_fraction <= max_unloaded:
            command = (f'python tools/model_converters/{backbone.family.lower()}_to_mmvitplug.py '
                       f'{checkpoint} CONVERTED.pth')
            print_log(f'{checkpoint} is in the authors\' {backbone.family} layout; converted on '
                      f'the fly (convert it once with: {command}, then load CONVERTED.pth with '
                      "prefix='backbone.')", logger='current')
            report = converted
    if report.unloaded_fraction > max_unloaded:
        hint = ''
        if not prefix and any(k.startswith('backbone.') for k in state_dict):
            hint = " The file's keys start with 'backbone.': set prefix='backbone.'."
        elif prefix and not selected:
            hint = (f' No key of the file starts with {prefix!r} (its first keys: '
                    f'{", ".join(list(state_dict)[:3])}).')
        arch = backbone.arch_name or 'given as a dict'
        raise CheckpointError(
            f'pretrained checkpoint {checkpoint} does not fit {backbone.family} (arch {arch}): '
            f'{report.describe()}.{hint} Is it a checkpoint of another model? To load the '
            f'tensors that fit on purpose, raise max_unloaded (now {max_unloaded}) in the '
            'init_cfg.')
    backbone.load_state_dict(report.loadable, strict=False)
    print_log(f'{backbone.family}: loaded {checkpoint} ({report.describe()})', logger='current')
    return report
