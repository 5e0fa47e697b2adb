"""Registries of mmvitplug.

mmvitplug has one child registry, ``MODELS`` (scope ``'mmvitplug'``), whose parent is mmengine's
root ``MODELS``. Every model class is registered twice through :func:`register_model`:

* in the root registry, so ``type='FasterViT'`` resolves from the mmdet, mmseg and mmpretrain
  scopes (their registries are children of the same root) once ``mmvitplug`` is imported, e.g.
  through ``custom_imports=dict(imports=['mmvitplug'])``;
* in the ``mmvitplug`` child registry, so ``type='mmvitplug.FasterViT'`` works from any scope
  without ``custom_imports``: mmengine imports ``mmvitplug.registry`` for an unknown scope prefix,
  and ``locations`` makes the registry import ``mmvitplug.models`` on first lookup.

This module only imports mmengine, never mmdet, mmseg or mmpretrain.
"""
from typing import Dict, Optional, TypeVar

from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

__all__ = ['MODELS', 'register_model', 'registered_models']

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmvitplug', locations=['mmvitplug.models'])

T = TypeVar('T', bound=type)


def register_model(cls: Optional[T] = None, *, name: Optional[str] = None):
    """Register a model class in mmvitplug's registry and in mmengine's root registry.

    Use as ``@register_model`` or ``@register_model(name='Other')``.

    Raises:
        KeyError: if the name is already taken in mmengine's root registry by a different
            class. Names must not collide with anything mmengine or a downstream toolbox
            registers at the root.
    """

    def _register(model_cls: T) -> T:
        key = name or model_cls.__name__
        existing = MMENGINE_MODELS.module_dict.get(key)
        if existing is not None and existing is not model_cls:
            raise KeyError(
                f'cannot register {model_cls.__module__}.{model_cls.__qualname__} as '
                f'{key!r}: mmengine\'s root MODELS registry already maps it to '
                f'{existing.__module__}.{existing.__qualname__}')
        if existing is None:
            MMENGINE_MODELS.register_module(name=key, module=model_cls)
        if MODELS.module_dict.get(key) is not model_cls:
            MODELS.register_module(name=key, module=model_cls)
        return model_cls

    if cls is not None:
        return _register(cls)
    return _register


def registered_models() -> Dict[str, type]:
    """Name -> class of everything mmvitplug registered (imports ``mmvitplug.models``)."""
    MODELS.import_from_location()
    return dict(MODELS.module_dict)


