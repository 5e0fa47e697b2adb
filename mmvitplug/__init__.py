"""mmvitplug: FasterViT, BiFormer and LITv2 backbones for OpenMMLab 2.x.

Importing the package registers every model (see :mod:`mmvitplug.registry`), so a config of
mmdet, mmseg or mmpretrain uses them after ``custom_imports=dict(imports=['mmvitplug'])``.
It imports torch and mmengine only; mmdet, mmseg and mmpretrain are never imported here.
Importing it changes no global policy of torch: a program that lets mmengine load runner
checkpoints under safe loading opts in with :func:`mmvitplug.utils.allow_runner_checkpoints`.

mmvitplug's code is under the Apache-2.0 licence; the authors' weights converted with
``python -m mmvitplug.converters`` keep their own licence (:mod:`mmvitplug.licences`).
"""
from . import engine, models  # noqa: F401  (registers the models, hooks, file backend)
from .version import __version__

__all__ = ['__version__']
