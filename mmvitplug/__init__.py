"""mmvitplug: FasterViT, BiFormer and LITv2 backbones for OpenMMLab 2.x.

Importing the package registers every model (see :mod:`mmvitplug.registry`), so a config of
mmdet, mmseg or mmpretrain uses them after ``custom_imports=dict(imports=['mmvitplug'])``.
It imports torch and mmengine only; mmdet, mmseg and mmpretrain are never imported here.
"""
from .utils.checkpoint import allow_mmengine_checkpoints
from .version import __version__

# Runner checkpoints hold mmengine objects that torch's safe loading (the default since torch
# 2.6) refuses; allow-list them so resume/test work with safe loading on.
allow_mmengine_checkpoints()

from . import engine, models  # noqa: E402,F401  (registers the models, hooks, file backend)

__all__ = ['__version__', 'allow_mmengine_checkpoints']
