"""Models of mmvitplug. Importing this package registers every backbone, the layer-wise
lr-decay optimizer-wrapper constructor and the warm-up + cosine scheduler.

``layers`` holds pure-PyTorch building blocks that know nothing of registries; ``backbones``
composes them into the registered dense-prediction backbones; ``optim`` holds
:class:`BackboneLayerDecayOptimWrapperConstructor` and :class:`WarmupCosineLR` (mmengine's root
registries).
"""
from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .optim import BackboneLayerDecayOptimWrapperConstructor, WarmupCosineLR

__all__ = list(_backbones) + ['BackboneLayerDecayOptimWrapperConstructor', 'WarmupCosineLR']
