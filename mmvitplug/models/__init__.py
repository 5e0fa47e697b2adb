"""Models of mmvitplug. Importing this package registers every backbone.

``layers`` holds pure-PyTorch building blocks that know nothing of registries; ``backbones``
composes them into the registered dense-prediction backbones.
"""
from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones

__all__ = list(_backbones)
