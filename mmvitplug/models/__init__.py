"""Models of mmvitplug. Importing this package registers every backbone, the plug-in attention
modules, the layer-wise lr-decay optimizer-wrapper constructor, the warm-up + cosine scheduler
and the autocast optimizer wrapper.

``layers`` holds pure-PyTorch building blocks that know nothing of registries; ``backbones``
composes them into the registered dense-prediction backbones; ``plugins`` into the registered
plug-in attention modules (mmcv's plugin convention); ``optim`` holds
:class:`BackboneLayerDecayOptimWrapperConstructor`, :class:`WarmupCosineLR` and
:class:`AutocastOptimWrapper` (mmengine's root registries).
"""
from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .optim import AutocastOptimWrapper, BackboneLayerDecayOptimWrapperConstructor, WarmupCosineLR
from .plugins import BiLevelRoutingAttention2d, HATAttention2d, HiLoAttention2d

__all__ = list(_backbones) + [
    'BiLevelRoutingAttention2d', 'HATAttention2d', 'HiLoAttention2d',
    'AutocastOptimWrapper', 'BackboneLayerDecayOptimWrapperConstructor', 'WarmupCosineLR'
]
