"""Models of mmvitplug. Importing this package registers every backbone and the layer-wise
lr-decay optimizer-wrapper constructor.

``layers`` holds pure-PyTorch building blocks that know nothing of registries; ``backbones``
composes them into the registered dense-prediction backbones; ``optim`` holds
:class:`BackboneLayerDecayOptimWrapperConstructor` (mmengine's root registry).
"""
from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .optim import BackboneLayerDecayOptimWrapperConstructor

__all__ = list(_backbones) + ['BackboneLayerDecayOptimWrapperConstructor']
