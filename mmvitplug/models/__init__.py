"""Models of mmvitplug. Importing this package registers every backbone, the layer-wise
lr-decay optimizer-wrapper constructor, the warm-up + cosine scheduler and the autocast
optimizer wrapper.

``layers`` holds pure-PyTorch building blocks that know nothing of registries; ``backbones``
composes them into the registered dense-prediction backbones; ``optim`` holds
:class:`BackboneLayerDecayOptimWrapperConstructor`, :class:`WarmupCosineLR` and
:class:`AutocastOptimWrapper` (mmengine's root registries).
"""
from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .optim import AutocastOptimWrapper, BackboneLayerDecayOptimWrapperConstructor, WarmupCosineLR

__all__ = list(_backbones) + [
    'AutocastOptimWrapper', 'BackboneLayerDecayOptimWrapperConstructor', 'WarmupCosineLR'
]
