"""The authors' released detectors and segmentors -> mmvitplug.

A released downstream checkpoint (mmdet 2.x/3.x or mmseg 0.x/1.x) holds a whole model:
``backbone.*`` in the layout of the authors' *dense* backbone (their classifier's keys without
its head and final norm, plus fresh output norms: BiFormer's ``extra_norms``, LITv2's
``norm1``-``norm3``), and the toolbox's neck and heads. :func:`convert_downstream` renames the
backbone through the family's table (:class:`~.common.FamilyConverter`, with its
``dense_key_renames``) and reads the output norms the file has (the backbone's ``out_norms``).
Neck and head keys carry over as they are: mmdet 2.25 -> 3.3 and mmseg 0.30 -> 1.2 kept the key
names of the necks and heads the authors used (FPN, RPN, Shared2FC box head, FCN mask head,
RetinaHead, FPNHead, UPerHead, FCNHead); the converter proves it for every file by a strict
load into the mmvitplug config of the same model (:func:`target_of`, :func:`mismatches`).
"""
import functools
import re
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

import torch

from .common import FamilyConverter

BACKBONE = 'backbone.'


class Task(NamedTuple):
    """A downstream model recognised by one of its keys."""
    name: str  #: short name, as in config file names (``mask-rcnn``)
    title: str  #: for messages (``Mask R-CNN``)
    scope: str  #: the toolbox (mmengine default scope) that builds it
    marker: str  #: a key only this model's checkpoints have
    config_prefix: str  #: file-name prefix of its configs under ``configs/<family>/``


#: Models recognised, first match wins (a cascade's heads are numbered, Mask R-CNN's are not).
TASKS = (
    Task('cascade-mask-rcnn', 'Cascade Mask R-CNN', 'mmdet', 'roi_head.bbox_head.0.fc_cls.weight',
         'cascade'),
    Task('mask-rcnn', 'Mask R-CNN', 'mmdet', 'roi_head.mask_head.conv_logits.weight',
         'mask-rcnn_'),
    Task('retinanet', 'RetinaNet', 'mmdet', 'bbox_head.retina_cls.weight', 'retinanet_'),
    Task('upernet', 'UPerNet', 'mmseg', 'decode_head.psp_modules.0.1.conv.weight', 'upernet'),
    Task('fpn', 'Semantic FPN', 'mmseg', 'decode_head.scale_heads.0.0.conv.weight', 'fpn_'),
)
#: keys of the toolboxes' other top-level modules: they make a file a detector's or segmentor's
MODEL_PARTS = ('neck.', 'rpn_head.', 'roi_head.', 'bbox_head.', 'decode_head.',
               'auxiliary_head.')


def find_task(state_dict: Dict[str, torch.Tensor]) -> Optional[Task]:
    """The downstream model whose marker key ``state_dict`` has (None: none)."""
    return next((t for t in TASKS if t.marker in state_dict), None)


def is_downstream(state_dict: Dict[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` is a whole detector's or segmentor's (``backbone.*`` beside a
    neck or heads), known model or not."""
    return any(k.startswith(BACKBONE) for k in state_dict) and any(
        k.startswith(MODEL_PARTS) for k in state_dict)


def is_classifier(state_dict: Dict[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` is an image classifier's (converted: ``head.fc.*``; the authors'
    layout: ``head.*``) rather than a detector's or segmentor's."""
    return any(k.startswith('head.') for k in state_dict)


def backbone_of(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The ``backbone.*`` entries, prefix stripped."""
    return {k[len(BACKBONE):]: v for k, v in state_dict.items() if k.startswith(BACKBONE)}


def out_norms_of(backbone: Dict[str, torch.Tensor], num_stages: int = 4) -> tuple:
    """The ``out_norms`` of a converted backbone state_dict: ``'BN'`` where ``norm{i}`` has
    running statistics, ``'LN'`` where it has only an affine transform, None where absent."""
    return tuple('BN' if f'norm{i}.running_mean' in backbone else
                 'LN' if f'norm{i}.weight' in backbone else None for i in range(num_stages))


class DownstreamModel(NamedTuple):
    """A converted detector or segmentor checkpoint."""
    task: Task
    state_dict: Dict[str, torch.Tensor]  #: mmvitplug ``backbone.*``, neck and heads unchanged
    out_norms: tuple  #: the backbone's output norms, as the ``out_norms`` option
    arch: Optional[str]  #: arch zoo key of a released variant (None: not one)
    #: the arch settings the authors' backbone kwargs give (None: recognised from the keys)
    official_settings: Optional[dict]


def convert_downstream(converter: FamilyConverter, state_dict: Dict[str, torch.Tensor],
                       official_config: Optional[dict] = None) -> DownstreamModel:
    """Convert an authors' detector or segmentor ``state_dict`` of ``converter``'s family.

    ``official_config``: the kwargs of the authors' dense backbone (their config's
    ``model.backbone``, without ``type``); without it a released variant is recognised from
    the keys.

    Raises:
        ValueError: not a known model, or its backbone is not the family's (the message
            names what the file is and what was expected).
    """
    task = find_task(state_dict)
    if task is None:
        raise ValueError('a detector/segmentor checkpoint, but not of a model mmvitplug maps ('
                         + ', '.join(t.title for t in TASKS) + f'; looked for {TASKS[0].marker}'
                         ', ...)')
    backbone = backbone_of(state_dict)
    if not converter.is_official(backbone):
        raise ValueError(f'its backbone is not the authors\' {converter.backbone_type} '
                         f'({converter.dense_class}): '
                         f'{describe_backbone(backbone, converter, BACKBONE)}')
    converted = {}
    for key, value in state_dict.items():
        if key.startswith(BACKBONE):
            key = BACKBONE + converter.convert_backbone_key(key[len(BACKBONE):], dense=True)
        converted[key] = value
    arch, settings = None, None
    if official_config is not None:
        cfg, _ = converter.backbone_cfg(official_config, dense=True)
        settings = converter.backbone_class.arch_settings_of(cfg['arch'])
    else:
        try:
            arch, _ = converter.infer_arch(backbone)
        except ValueError:
            pass  # a custom architecture: the target config says which
    return DownstreamModel(task, converted, out_norms_of(backbone_of(converted)), arch, settings)


def describe_backbone(backbone: Dict[str, torch.Tensor], expected: FamilyConverter,
                      prefix: str = '') -> str:
    """What a backbone state_dict (its keys under ``prefix`` in the file) is, for errors:
    another family's official layout, an mmvitplug backbone, or its first keys."""
    from . import CONVERTERS
    for family, converter in CONVERTERS.items():
        if converter is not expected and converter.is_official(backbone):
            return (f"it is the authors' {converter.backbone_type}: convert it with "
                    f'python -m mmvitplug.converters {family}')
    if any('stages.0.blocks.' in k for k in backbone):
        return 'it is already in mmvitplug\'s layout (stages.*.blocks.*): load it as it is'
    return ('expected keys such as ' + ', '.join(prefix + k for k in expected.signature_keys)
            + '; its first keys: ' + ', '.join(prefix + k for k in list(backbone)[:3]))


# ---------------------------------------------------------------------- configs
def configs_dir() -> Path:
    """``configs/`` of the checkout mmvitplug runs from (absent from a wheel install)."""
    return Path(__file__).resolve().parents[2] / 'configs'


def shipped_config(family: str, model: DownstreamModel, hints: str = '') -> Optional[Path]:
    """The config under ``configs/<family>/`` of ``model``'s task and released arch (None where
    there is none). Where several fit (LITv2's local windows 2 and 4 give the same keys), the
    ``hints`` decide - the checkpoint's saved config text (``local_ws=[0, 0, 4, 1]``) or the
    authors' file name (``..._ws_4.pth``) -, else the config that keeps the arch's windows."""
    folder = configs_dir() / family
    if model.arch is None or not folder.is_dir():
        return None
    candidates = []
    for path in sorted(folder.glob(model.task.config_prefix + '*.py')):
        arch, local_ws = _backbone_settings(str(path))
        if arch == model.arch:
            candidates.append((path, local_ws))
    found = (re.search(r'local_ws\s*=\s*[\[(]\s*\d+\s*,\s*\d+\s*,\s*(\d+)', hints)
             or re.search(r'_ws_?(\d+)', hints))
    if found:
        for path, local_ws in candidates:
            if local_ws is not None and local_ws[2] == int(found.group(1)):
                return path
    return next((p for p, local_ws in candidates if local_ws is None),
                candidates[0][0] if candidates else None)


@functools.lru_cache(maxsize=None)
def _backbone_settings(config: str) -> tuple:
    """``(arch, local_ws)`` of a config's backbone (parsing a config resolves its toolbox
    bases: seconds, so once per process)."""
    from mmengine.config import Config
    backbone = Config.fromfile(config).model.backbone
    return str(backbone.get('arch')).lower(), backbone.get('local_ws')


def model_cfg_of(config: str):
    """The model config and default scope of an mmvitplug config file, as loaded for a
    checkpoint (no pretrained backbone init)."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(config))
    model = cfg.model
    model.backbone.pop('init_cfg', None)
    model.pop('pretrained', None)
    if 'data_preprocessor' in cfg:
        model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return model, cfg.get('default_scope')


class Target(NamedTuple):
    """What a checkpoint must fit: the model of an mmvitplug config."""
    shapes: Dict[str, torch.Size]  #: its state_dict shapes
    backbone_settings: Optional[dict]  #: its backbone's arch settings (mmvitplug backbones)


def target_of(config: str) -> Target:
    """The model of mmvitplug ``config``, built on the meta device (shapes only)."""
    from mmengine.registry import DefaultScope

    import mmvitplug  # noqa: F401  (registers the backbones)
    from mmvitplug.registry import MODELS
    model_cfg, scope = model_cfg_of(config)
    with DefaultScope.overwrite_default_scope(scope), torch.device('meta'):
        model = MODELS.build(model_cfg)
    return Target({k: v.shape for k, v in model.state_dict().items()},
                  getattr(getattr(model, 'backbone', None), 'arch_settings', None))


def setting_mismatches(official: dict, target: dict) -> List[str]:
    """The arch settings (all but the training-only drop path) where the authors' backbone
    kwargs and a target config's backbone differ: the keys cannot tell them apart (e.g.
    BiFormer's ``n_win``, LITv2's ``local_ws``), the outputs would."""
    return [f'{key}: the checkpoint\'s {official[key]!r}, the config\'s {target[key]!r}'
            for key in sorted(official)
            if key != 'drop_path_rate' and key in target and official[key] != target[key]]


def unused_out_norms(state_dict: Dict[str, torch.Tensor],
                     expected: Dict[str, torch.Size]) -> List[str]:
    """Keys of backbone output norms that the target model does not have because its backbone
    outputs fewer stages: the authors' dense backbones keep a norm on every stage, while e.g.
    mmvitplug's RetinaNet takes strides 8-32 only (the stages the authors' FPN reads with
    ``start_level=1``). Those norms never affect the output."""
    return [k for k in state_dict
            if re.match(r'backbone\.norm\d+\.', k) and k not in expected
            and not any(e.startswith(k.rsplit('.', 1)[0] + '.') for e in expected)]


def mismatches(expected: Dict[str, torch.Size], state_dict: Dict[str, torch.Tensor]) -> List[str]:
    """Lines naming the missing, unexpected and mis-shaped keys of ``state_dict`` against the
    expected shapes (empty: it loads strictly)."""
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = sorted(f'{k}: checkpoint {tuple(state_dict[k].shape)}, model {tuple(s)}'
                        for k, s in expected.items()
                        if k in state_dict and state_dict[k].shape != s)
    lines = []
    for title, keys in (('missing', missing), ('unexpected', unexpected),
                        ('shape mismatch', mismatched)):
        if keys:
            lines.append(f'  {title} ({len(keys)}): ' + ', '.join(keys[:20]) +
                         (' ...' if len(keys) > 20 else ''))
    return lines


def dataset_meta_of(meta: dict) -> Optional[dict]:
    """mmengine's ``dataset_meta`` from a checkpoint's ``meta`` (mmdet/mmseg 3.x/1.x keep it
    there; 2.x/0.x wrote ``CLASSES`` and ``PALETTE``), so that init_detector / init_model
    name the classes."""
    if isinstance(meta.get('dataset_meta'), dict):
        return meta['dataset_meta']
    if meta.get('CLASSES') is None:
        return None
    found = dict(classes=tuple(meta['CLASSES']))
    if meta.get('PALETTE') is not None:
        found['palette'] = [list(p) for p in meta['PALETTE']]
    return found


def saved_config_text(meta: dict) -> str:
    """The config text a toolbox saved in a checkpoint's ``meta`` (mmdet 2.x ``config``,
    mmengine ``cfg``), or ''."""
    for key in ('config', 'cfg'):
        if isinstance(meta.get(key), str):
            return meta[key]
    return ''

