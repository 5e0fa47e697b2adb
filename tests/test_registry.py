"""Registration: backbones resolve from the mmdet, mmseg and mmpretrain scopes and as
'mmvitplug.X', and names never collide with what the toolboxes register."""
import pytest
import torch
from mmengine.model import BaseModule
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope, init_default_scope

from conftest import run_python
from mmvitplug.registry import MODELS, register_model, registered_models


@register_model
class _RegistryTestBackbone(BaseModule):
    """A toy backbone registered the way every mmvitplug backbone is."""

    def __init__(self, width: int = 4, init_cfg=None):
        super().__init__(init_cfg)
        self.conv = torch.nn.Conv2d(3, width, 3, stride=4, padding=1)

    def forward(self, x):
        return (self.conv(x), )


TOY = '_RegistryTestBackbone'
SCOPES = ('mmdet', 'mmseg', 'mmpretrain')


def _scope_registry(scope):
    if scope == 'mmdet':
        from mmdet.registry import MODELS as registry
    elif scope == 'mmseg':
        from mmseg.registry import MODELS as registry
    else:
        from mmpretrain.registry import MODELS as registry
    return registry


@pytest.fixture(autouse=True)
def _restore_default_scope():
    before = DefaultScope.get_current_instance()
    yield
    if before is not None:
        init_default_scope(before.scope_name)


@pytest.mark.parametrize('scope', SCOPES)
@pytest.mark.parametrize('type_name', [TOY, f'mmvitplug.{TOY}'])
def test_build_from_downstream_scope(scope, type_name):
    init_default_scope(scope)
    model = _scope_registry(scope).build(dict(type=type_name, width=6))
    assert type(model).__name__ == TOY
    assert model(torch.zeros(1, 3, 32, 32))[0].shape == (1, 6, 8, 8)


@pytest.mark.parametrize('scope', SCOPES)
def test_backbone_inside_a_downstream_model(scope):
    """The backbone is found when a toolbox builds it as a sub-module of its own model."""
    init_default_scope(scope)
    registry = _scope_registry(scope)
    if scope == 'mmpretrain':
        cfg = dict(type='ImageClassifier', backbone=dict(type=TOY, width=8),
                   neck=dict(type='GlobalAveragePooling'),
                   head=dict(type='LinearClsHead', num_classes=3, in_channels=8))
        out = registry.build(cfg)(torch.zeros(2, 3, 32, 32), mode='tensor')
        assert out.shape == (2, 3)
    elif scope == 'mmseg':
        cfg = dict(type='EncoderDecoder', backbone=dict(type=TOY, width=8),
                   decode_head=dict(type='FCNHead', in_channels=8, channels=8, num_convs=1,
                                    num_classes=3, in_index=0))
        out = registry.build(cfg)(torch.zeros(2, 3, 32, 32), mode='tensor')
        assert out.shape == (2, 3, 8, 8)
    else:
        cfg = dict(type='RetinaNet', backbone=dict(type=TOY, width=8),
                   neck=dict(type='FPN', in_channels=[8], out_channels=8, num_outs=1),
                   bbox_head=dict(
                       type='RetinaHead', num_classes=3, in_channels=8, feat_channels=8,
                       stacked_convs=1,
                       anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                             scales_per_octave=1, ratios=[1.0], strides=[4]),
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder')))
        cls_scores, _ = registry.build(cfg)(torch.zeros(2, 3, 32, 32), mode='tensor')
        assert cls_scores[0].shape == (2, 3, 8, 8)


def test_registered_in_both_registries():
    assert ROOT_MODELS.get(TOY) is _RegistryTestBackbone
    assert MODELS.get(TOY) is _RegistryTestBackbone
    assert registered_models()[TOY] is _RegistryTestBackbone


def test_name_collision_is_refused():
    class Other(BaseModule):
        pass

    with pytest.raises(KeyError, match='already maps it to'):
        register_model(Other, name=TOY)
    # Registering the same class again is harmless (e.g. a module imported twice).
    assert register_model(_RegistryTestBackbone) is _RegistryTestBackbone


def test_shipped_names_do_not_shadow_downstream_toolboxes():
    """A name registered by mmvitplug must not also exist in mmdet/mmseg/mmpretrain."""
    for scope in SCOPES:
        init_default_scope(scope)
        registry = _scope_registry(scope)
        registry.import_from_location()
        for name in registered_models():
            assert name not in registry.module_dict, f'{name} collides with {scope}'


@pytest.mark.parametrize('scope', SCOPES)
def test_shipped_backbones_resolve_without_custom_imports(scope):
    """type='mmvitplug.X' in a fresh process that never imported mmvitplug: the first lookup
    imports it, and every shipped name then resolves (one process per scope, not per name: a
    process costs seconds of imports)."""
    names = sorted(n for n in registered_models() if n != TOY)
    proc = run_python([
        '-c', f'import sys; from {scope}.registry import MODELS; '
        'from mmengine.registry import init_default_scope; '
        f'init_default_scope("{scope}"); assert "mmvitplug" not in sys.modules; '
        f'print(*[MODELS.get("mmvitplug." + n).__name__ for n in {names!r}])'
    ], check=True)
    assert proc.stdout.split()[-len(names):] == names


def test_the_tools_find_backbones_through_the_registry():
    """``registered_backbone`` (the tools' pretrained-checkpoint check) resolves what the
    registry resolves: a project's registered variant of a shipped backbone too, which
    ``HierarchicalBackbone.__subclasses__()`` (direct subclasses only) would miss."""
    from mmvitplug.models import FasterViT, LITv2
    from mmvitplug.utils.launch import registered_backbone

    class _ProjectFasterViT(FasterViT):
        pass

    register_model(_ProjectFasterViT)
    try:
        assert registered_backbone('_ProjectFasterViT') is _ProjectFasterViT
        assert registered_backbone('mmvitplug._ProjectFasterViT') is _ProjectFasterViT
    finally:  # later tests list the shipped names
        for registry in (MODELS, ROOT_MODELS):
            registry.module_dict.pop('_ProjectFasterViT')
    assert registered_backbone('FasterViT') is FasterViT
    assert registered_backbone('mmvitplug.LITv2') is LITv2
    assert registered_backbone(LITv2) is LITv2
    assert registered_backbone(TOY) is None  # registered, not an mmvitplug backbone
    assert registered_backbone('SwinTransformer') is None
