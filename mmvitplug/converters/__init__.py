"""Official checkpoints -> mmvitplug / mmpretrain keys, one module per family, each a
:class:`~mmvitplug.converters.common.FamilyConverter` (rename table, table of the authors'
constructor options, released-layout recognition).

``convert_checkpoint(family, src, dst)`` converts a file: the authors' ImageNet classifier, or
their released detector or segmentor (:mod:`.downstream`).
``python -m mmvitplug.converters FAMILY SRC DST`` is its command line (:mod:`.cli`).
``official_to_mmpretrain(family, state_dict)`` returns the keys of an mmpretrain
``ImageClassifier`` (``backbone.*``, ``head.fc.*``) built from
``official_classifier_cfg(family, official_config)``; det/seg configs load the same file with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
"""
import io
import os.path as osp
from typing import Dict, Optional, Tuple

import torch

from ..licences import FAMILY_LICENCES
from . import biformer, dino, downstream, fastervit, litv2
from ..utils.checkpoint import (CheckpointError, atomic_write, check_finite, read_checkpoint,
                                state_dict_of)
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
    return _read_official(path, trust_source)[0]


def _read_official(path: str, trust_source: bool) -> Tuple[Dict[str, torch.Tensor], dict]:
    """The weights and the ``meta`` dict ({} where none) of an official checkpoint."""
    try:
        ckpt = read_checkpoint(path, trust_source)
        state_dict = state_dict_of(ckpt, path)
        check_finite(state_dict, path)
    except CheckpointError as err:
        raise ConversionError(str(err)) from None
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return state_dict, meta if isinstance(meta, dict) else {}


def convert_checkpoint(family: str, src: str, dst: str, official_config: Optional[dict] = None,
                       trust_source: bool = False, target_config: Optional[str] = None) -> dict:
    """Convert an official checkpoint file into an mmvitplug one and verify it loads strictly.

    Two kinds of file are recognised by their keys:

    * the authors' ImageNet classifier: the output holds mmpretrain ``ImageClassifier`` keys
      (``backbone.*``, ``head.fc.*``), checked against the classifier of ``official_config``
      (without it, the released variant recognised from the key layout);
    * the authors' released detector or segmentor (mmdet 2.x/3.x, mmseg 0.x/1.x; see
      :mod:`.downstream`; or IDEA-Research DINO's layout, FasterViT's detector, converted to
      mmdet's DINO, see :mod:`.dino`): the output holds the same model's keys for mmvitplug's
      backbone,
      checked to load strictly into ``target_config`` (default: the shipped config of the
      recognised model and variant); ``official_config`` is then the kwargs of the authors'
      dense backbone.

    The output holds ``state_dict`` and ``meta`` (and mmengine's ``dataset_meta`` where the
    source names its classes), loads under ``torch.load(..., weights_only=True)``, and is
    written atomically.

    Returns:
        The ``meta`` dict written (family, source, model, official config, mmvitplug arch if
        known, target config if any, ``weights_licence``: the SPDX identifier of the authors'
        licence, which the converted weights keep, see :mod:`mmvitplug.licences`).

    Raises:
        ConversionError: unreadable file, unknown layout, another family's or another
            model's checkpoint, or keys/shapes that do not match the target architecture (the
            message lists missing, unexpected and mis-shaped keys).
    """
    from mmvitplug.version import __version__

    converter = get_converter(family)
    official, source_meta = _read_official(src, trust_source)
    if downstream.is_downstream(official) or dino.is_idea_dino(official):
        converted, meta = _convert_downstream(converter, src, official, source_meta,
                                              official_config, target_config)
    else:
        if target_config is not None:
            _refuse_classifier_for(target_config, official)
        converted, meta = _convert_classifier(converter, official, official_config)
        if target_config is not None:  # an mmpretrain config: the file must fit it too
            _check_fits(target_config, converted, 'classifier')
            meta['target_config'] = str(target_config)
    meta.update(family=family, source=str(src), mmvitplug_version=__version__,
                weights_licence=FAMILY_LICENCES[family].spdx)
    buffer = io.BytesIO()
    torch.save(dict(state_dict=converted, meta=meta), buffer)
    atomic_write(dst, buffer.getvalue())  # checked above; whole or not at all
    return meta


def _convert_classifier(converter: FamilyConverter, official: Dict[str, torch.Tensor],
                        official_config: Optional[dict]) -> Tuple[dict, dict]:
    if not converter.is_official(official):
        raise ConversionError(
            f"not a checkpoint of the authors' {converter.backbone_type}: "
            f'{downstream.describe_backbone(official, converter)} (an ImageNet classifier, or '
            'an mmdet/mmseg model with backbone.* keys, is expected)')
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
    return converted, dict(model='ImageNet classifier', official_config=official_config,
                           arch=arch)


def _convert_downstream(converter: FamilyConverter, src: str, official: Dict[str, torch.Tensor],
                        source_meta: dict, official_config: Optional[dict],
                        target_config: Optional[str]) -> Tuple[dict, dict]:
    try:
        if dino.is_idea_dino(official):
            model = dino.convert_idea_dino(converter, official, official_config)
        else:
            model = downstream.convert_downstream(converter, official, official_config)
    except (KeyError, ValueError) as err:
        raise ConversionError(f'{err}') from None
    if target_config is None:
        hints = downstream.saved_config_text(source_meta) + '\n' + osp.basename(src)
        found = downstream.shipped_config(converter.family, model, hints)
        if found is None:
            raise ConversionError(
                f'no shipped config of {converter.backbone_type} {model.task.title} for this '
                f'backbone (arch {model.arch or "not a released variant"}): name the mmvitplug '
                'config it must load into (--target CONFIG)')
        target_config = str(found)
    target = downstream.target_of(target_config)
    state_dict, coco_ids = dict(model.state_dict), False
    if model.task is dino.TASK:
        try:
            state_dict, coco_ids = dino.fit_classes(state_dict, target.shapes)
        except ValueError as err:
            raise ConversionError(f'{err} ({target_config})') from None
    unused = downstream.unused_out_norms(state_dict, target.shapes)
    for key in unused:
        del state_dict[key]
    _check_fits(target_config, state_dict, model.task.title, target)
    if model.official_settings is not None and target.backbone_settings is not None:
        differ = downstream.setting_mismatches(model.official_settings, target.backbone_settings)
        if differ:
            raise ConversionError(f"the backbone settings given (--config) are not those of "
                                  f"{target_config}'s backbone:\n  " + '\n  '.join(differ))
    meta = dict(model=model.task.title, task=model.task.name, arch=model.arch,
                out_norms=list(model.out_norms), official_config=official_config,
                target_config=str(target_config), unused_keys=unused)
    dataset_meta = (dino.coco_dataset_meta() if coco_ids else
                    downstream.dataset_meta_of(source_meta))
    warning = dino.carrier_token_warning(converter, official)
    if warning is not None and model.task is dino.TASK:
        meta['warnings'] = [warning]
    if dataset_meta is not None:
        meta['dataset_meta'] = dataset_meta
    return state_dict, meta


def _check_fits(config: str, state_dict: Dict[str, torch.Tensor], what: str,
                target: Optional['downstream.Target'] = None) -> None:
    """Raise unless ``state_dict`` loads strictly into the model of mmvitplug ``config``."""
    target = target or downstream.target_of(config)
    problems = downstream.mismatches(target.shapes, state_dict)
    if problems:
        raise ConversionError(f'the converted {what} does not load strictly into {config}:\n'
                              + '\n'.join(problems))


def _refuse_classifier_for(target_config: str, official: Dict[str, torch.Tensor]) -> None:
    """A classifier checkpoint given for a detector or segmentor config: one clear error."""
    from mmengine.config import Config
    scope = Config.fromfile(str(target_config)).get('default_scope')
    if scope in ('mmdet', 'mmseg'):
        what = ('an ImageNet classifier' if downstream.is_classifier(official) else
                'not a detector or segmentor')
        raise ConversionError(
            f'{target_config} is an {scope} model, so a detector/segmentor checkpoint (keys '
            f'backbone.*, neck.*, heads) is expected; this file is {what}. An ImageNet '
            "checkpoint initialises the backbone instead: convert it without --target and "
            "name it in the config's init_cfg (type='Pretrained', prefix='backbone.')")


def _check_loads_strictly(classifier_cfg: dict, converted: Dict[str, torch.Tensor]) -> None:
    """Load the backbone part into the backbone the config describes; check the head shapes."""
    from mmvitplug.registry import MODELS

    backbone_cfg = dict(classifier_cfg['backbone'])
    backbone = MODELS.build(backbone_cfg)
    expected = {f'backbone.{k}': v.shape for k, v in backbone.state_dict().items()}
    head = classifier_cfg['head']
    expected['head.fc.weight'] = torch.Size([head['num_classes'], head['in_channels']])
    expected['head.fc.bias'] = torch.Size([head['num_classes']])
    problems = downstream.mismatches(expected, converted)
    if problems:
        raise ConversionError('\n'.join(['the checkpoint does not match the architecture:'] +
                                        problems))
