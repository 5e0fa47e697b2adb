"""What the analysis tools and benchmarks measure: backbones by name (our three families at
their smallest released size and the peers they are compared with) or the model of a config.

Each named entry is built by the registry of the OpenMMLab scope named with it (the peers come
from mmdet and mmpretrain, which must be installed to build them).
"""
import os.path as osp
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import torch.nn as nn

SWIN_T = dict(type='SwinTransformer', embed_dims=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
              window_size=7, mlp_ratio=4, qkv_bias=True, drop_path_rate=0.2,
              out_indices=(0, 1, 2, 3), convert_weights=False)

# name -> (scope whose registry builds it, config)
NAMED_BACKBONES: Dict[str, Tuple[str, dict]] = {
    'FasterViT-0': ('mmdet', dict(type='FasterViT', arch='0')),
    'BiFormer-T': ('mmdet', dict(type='BiFormer', arch='tiny')),
    'LITv2-S': ('mmdet', dict(type='LITv2', arch='s')),
    'Swin-T': ('mmdet', SWIN_T),
    'PVTv2-b2': ('mmdet', dict(type='PyramidVisionTransformerV2', embed_dims=64,
                               num_layers=[3, 4, 6, 3])),
    'ConvNeXt-T': ('mmpretrain', dict(type='ConvNeXt', arch='tiny', out_indices=(0, 1, 2, 3),
                                      gap_before_final_norm=False)),
}


def build_named_backbone(name: str, scope: str = None, cfg: dict = None,
                         prepare: Tuple[Callable[[nn.Module], None], ...] = ()) -> nn.Module:
    """The backbone called ``name`` in :data:`NAMED_BACKBONES` (or ``cfg`` built in ``scope``),
    in eval mode."""
    import importlib

    import mmvitplug.models  # noqa: F401  (registers our backbones)
    if cfg is None:
        if name not in NAMED_BACKBONES:
            raise KeyError(f'unknown backbone name {name!r}; choose one of '
                           f'{sorted(NAMED_BACKBONES)}')
        scope, cfg = NAMED_BACKBONES[name]
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model = registry.build(dict(cfg))
    for fn in prepare:
        fn(model)
    model.eval()  # separately: mmdet's SwinTransformer.train() returns None
    return model


class Target(NamedTuple):
    """A model to measure: ``model`` in eval mode, the scope that built it, and the config for
    config targets (None for named backbones, which are backbones themselves)."""
    name: str
    model: nn.Module
    scope: str
    cfg: Optional[Any]


def build_target(target: str) -> Target:
    """A config file's model or a backbone of :data:`NAMED_BACKBONES`.

    Raises:
        ValueError: ``target`` is neither (the message lists the names).
    """
    if osp.isfile(target):
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        import mmvitplug.models  # noqa: F401
        cfg = Config.fromfile(target)
        scope = cfg.get('default_scope', 'mmpretrain')
        init_default_scope(scope)
        registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
        return Target(target, registry.build(cfg.model).eval(), scope, cfg)
    if target in NAMED_BACKBONES:
        return Target(target, build_named_backbone(target), NAMED_BACKBONES[target][0], None)
    raise ValueError(f'{target} is neither a config file nor one of '
                     f'{", ".join(NAMED_BACKBONES)}')
