"""What the analysis tools measure: our backbones by name (each family at its smallest released
size) or the model of a config.

Each named entry is built by the registry of the OpenMMLab scope named with it. The tools of the
repository add the peers the benchmarks compare with (``benchmarks/rivals.py``) through the
``named`` argument; they are no part of the installed package.
"""
import os.path as osp
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Tuple

import torch.nn as nn

#: name -> (scope whose registry builds it, config)
NamedBackbones = Mapping[str, Tuple[str, dict]]

#: our three families at their smallest released size
NAMED_BACKBONES: Dict[str, Tuple[str, dict]] = {
    'FasterViT-0': ('mmdet', dict(type='FasterViT', arch='0')),
    'BiFormer-T': ('mmdet', dict(type='BiFormer', arch='tiny')),
    'LITv2-S': ('mmdet', dict(type='LITv2', arch='s')),
}


def build_named_backbone(name: str, scope: str = None, cfg: dict = None,
                         prepare: Tuple[Callable[[nn.Module], None], ...] = (),
                         named: Optional[NamedBackbones] = None) -> nn.Module:
    """The backbone called ``name`` in ``named`` (default :data:`NAMED_BACKBONES`), or ``cfg``
    built in ``scope``, in eval mode."""
    import importlib

    import mmvitplug.models  # noqa: F401  (registers our backbones)
    if cfg is None:
        named = NAMED_BACKBONES if named is None else named
        if name not in named:
            raise KeyError(f'unknown backbone name {name!r}; choose one of {sorted(named)}')
        scope, cfg = named[name]
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


def build_target(target: str, named: Optional[NamedBackbones] = None) -> Target:
    """A config file's model or a backbone of ``named`` (default :data:`NAMED_BACKBONES`).

    Raises:
        ValueError: ``target`` is neither (the message lists the names).
    """
    named = NAMED_BACKBONES if named is None else named
    if osp.isfile(target):
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        import mmvitplug.models  # noqa: F401
        cfg = Config.fromfile(target)
        scope = cfg.get('default_scope', 'mmpretrain')
        init_default_scope(scope)
        registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
        return Target(target, registry.build(cfg.model).eval(), scope, cfg)
    if target in named:
        return Target(target, build_named_backbone(target, named=named), named[target][0], None)
    raise ValueError(f'{target} is neither a config file nor one of {", ".join(named)}')
