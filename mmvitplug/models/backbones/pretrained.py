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
import os
import os.path as osp
from typing import Dict, Optional
from urllib.parse import urlparse

import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log

from ...utils.checkpoint import (CheckpointError, LoadReport, check_finite, match_state_dict,
                                 read_state_dict, runner_checkpoints_allowed, state_dict_of)

#: default share of a backbone's values that a pretrained checkpoint may leave unloaded: room
#: for the output norms a classifier checkpoint lacks (``norm0``-``norm2``) and a re-shaped
#: first convolution, far below anything that is another model's file
MAX_UNLOADED = 0.01
_KEYS = ('type', 'checkpoint', 'prefix', 'map_location', 'max_unloaded', 'trust_source')


def download(url: str) -> str:
    """The local copy of an http(s) ``url`` in the checkpoint cache that mmengine's loader
    uses (``<torch hub dir>/checkpoints``), downloaded once: by rank 0 while other ranks
    wait, atomically (torch's downloader writes a temporary file, then renames it)."""
    from torch.hub import download_url_to_file, get_dir
    folder = osp.join(get_dir(), 'checkpoints')
    path = osp.join(folder, osp.basename(urlparse(url).path) or 'checkpoint.pth')
    rank, world_size = get_dist_info()
    if rank == 0 and not osp.isfile(path):
        os.makedirs(folder, exist_ok=True)
        print_log(f'downloading {url} to {path}', logger='current')
        download_url_to_file(url, path, progress=True)
    if world_size > 1:
        barrier()
    return path


def _read(checkpoint: str, trust_source: bool = False) -> Dict[str, torch.Tensor]:
    if checkpoint.startswith(('http://', 'https://')):
        # Downloaded once, then read like a local file: safe loading and the same checks
        # (mmengine's URL loader unpickles whatever the file holds).
        return read_state_dict(download(checkpoint), trust_source)
    if '://' in checkpoint:  # mmengine's other schemes (open-mmlab://, s3://, ...)
        from mmengine.runner import CheckpointLoader
        with runner_checkpoints_allowed():  # e.g. a trained classifier's runner checkpoint
            state_dict = state_dict_of(CheckpointLoader.load_checkpoint(
                checkpoint, map_location='cpu', logger='current'), checkpoint)
        check_finite(state_dict, checkpoint)
        return state_dict
    return read_state_dict(checkpoint, trust_source)


def _authors_layout(backbone, state_dict: Dict[str, torch.Tensor]) -> Optional[dict]:
    """The backbone keys of ``state_dict`` read as the authors' release - a classifier, or the
    dense backbone of their detector or segmentor (IDEA-Research DINO's layout included; None
    when the family's converter refuses it)."""
    from mmvitplug.converters import dino, downstream, get_converter
    converter = get_converter(backbone.family.lower())
    if dino.is_idea_dino(state_dict):  # FasterViT's released DINO detector
        try:
            return downstream.backbone_of(dino.convert_idea_dino(converter, state_dict).state_dict)
        except ValueError:
            return None
    if downstream.is_downstream(state_dict):  # the authors' detector or segmentor
        return {converter.convert_backbone_key(k, dense=True): v
                for k, v in downstream.backbone_of(state_dict).items()}
    try:
        converted = converter.official_to_mmpretrain(state_dict)
    except (KeyError, ValueError):
        return None
    return {k[len('backbone.'):]: v for k, v in converted.items() if k.startswith('backbone.')}


def _without_classifier_norm(backbone, weights: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """``weights`` (backbone keys of a classifier checkpoint) without the classifier's final
    norm when the backbone's last output norm starts fresh (``out_norms``), as the authors'
    dense models drop it."""
    if not backbone.classifier_norm_is_fresh():
        return weights
    norm = f'norm{backbone.num_stages - 1}.'
    return {k: v for k, v in weights.items() if not k.startswith(norm)}


def load_pretrained(backbone, init_cfg: dict) -> LoadReport:
    """Load a ``dict(type='Pretrained', checkpoint=..., prefix=None, max_unloaded=0.01)`` init
    config into ``backbone`` (a :class:`HierarchicalBackbone`).

    ``checkpoint`` is a file or an http(s) URL (downloaded once into the checkpoint cache,
    :func:`download`); the authors' release may be named directly: it is converted on the fly.
    ``trust_source=True`` unpickles a file that safe loading refuses (only for files from a
    trusted source). ``prefix`` selects and strips the keys of a whole-model checkpoint
    (``'backbone.'`` for the converters' files and for detectors, segmentors and classifiers;
    the authors' released detectors and segmentors are converted on the fly too). A
    classifier's final norm is not loaded into a fresh last output norm (``out_norms``).
    ``max_unloaded`` is the share of the backbone's values (elements of parameters and buffers)
    that may stay unloaded or mis-shaped; set it to 1.0 to load whatever fits on purpose.

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
    state_dict = _read(checkpoint, bool(init_cfg.get('trust_source', False)))

    own = backbone.state_dict()
    selected = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    from mmvitplug.converters.downstream import is_classifier
    classifier = is_classifier(state_dict)
    if classifier:
        selected = _without_classifier_norm(backbone, selected)
    report = match_state_dict(own, selected)
    if report.unloaded_fraction > max_unloaded:
        official = _authors_layout(backbone, state_dict)
        if official is not None and classifier:
            official = _without_classifier_norm(backbone, official)
        converted = None if official is None else match_state_dict(own, official)
        if converted is not None and converted.unloaded_fraction <= max_unloaded:
            source = osp.basename(urlparse(checkpoint).path) if '://' in checkpoint \
                else checkpoint
            command = (f'python -m mmvitplug.converters {backbone.family.lower()} {source} '
                       'CONVERTED.pth')
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
