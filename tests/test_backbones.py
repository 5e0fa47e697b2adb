"""What every backbone promises (the contract in DESIGN.md), parametrised over the three
families: any input size, batches, output norms and ``out_indices``, gradient checkpointing,
freezing, layer ids for lr decay, deterministic training, input checks and registration."""
import inspect
import math

import pytest
import torch

from conftest import ANY_SIZES, build_classifier, reference_cases
from mmvitplug.converters import official_to_mmpretrain
from mmvitplug.models import BiFormer, FasterViT, LITv2
from mmvitplug.models.layers import fast_paths


def _ceil_sizes(h: int, w: int):
    """Every stride-2 conv rounds up: stage i is ceil(side / 2**(i+2))."""
    return [(math.ceil(h / 2**(i + 2)), math.ceil(w / 2**(i + 2))) for i in range(4)]


def _litv2_sizes(h: int, w: int):
    """ceil(side / 4) after the patch embedding, then floor(side / 2) per token merging."""
    sizes = [(math.ceil(h / 4), math.ceil(w / 4))]
    for _ in range(3):
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    return sizes


# family -> (class, tiny arch, extra kwargs, stage sizes, {parameter: layer id})
FAMILIES = {
    'fastervit': (FasterViT, dict(embed_dims=16, in_dim=8, depths=(1, 1, 2, 2),
                                  num_heads=(1, 1, 2, 4), mlp_ratios=2.0, layer_scale=0.5,
                                  do_propagation=True), {},
                  _ceil_sizes, {
                      'patch_embed.0.weight': 0,
                      'stages.0.blocks.0.conv1.weight': 1,
                      'stages.2.carrier_init.pos_embed.weight': 3,
                      'stages.2.blocks.1.carrier.attn.qkv.weight': 4,
                      'stages.2.downsample.reduction.weight': 4,
                  }),
    'biformer': (BiFormer, dict(embed_dims=(16, 32, 64, 128), depths=(1, 1, 2, 1), head_dim=8,
                                mlp_ratios=2.0), {}, _ceil_sizes, {
                                    'patch_embed.0.0.weight': 0,
                                    'stages.0.blocks.0.attn.qkv.weight': 1,
                                    'stages.2.blocks.1.attn.lepe.weight': 4,
                                    'stages.2.downsample.0.weight': 4,
                                }),
    'litv2': (LITv2, dict(embed_dims=16, depths=(1, 1, 2, 1), num_heads=(1, 1, 2, 4),
                          mlp_ratios=2.0), dict(alpha=0.5), _litv2_sizes, {
                              'patch_embed.proj.weight': 0,
                              'stages.0.blocks.0.mlp.fc1.weight': 1,
                              'stages.2.blocks.1.attn.lofi_q.weight': 4,
                              'stages.2.downsample.weight': 4,
                          }),
}
NAMES = sorted(FAMILIES)


def build(family: str, **kwargs):
    cls, arch, extra, _, _ = FAMILIES[family]
    return cls(arch=arch, **{**extra, **kwargs})


def _randomise_batch_norms(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)


@pytest.fixture(scope='module', params=NAMES)
def tiny(request):
    torch.manual_seed(0)
    model = build(request.param).eval()
    _randomise_batch_norms(model)
    model.family_key = request.param
    return model


# LITv2's cases hold sub-cases and are checked in test_litv2.py.
REFERENCE = [(family, path) for family in ('biformer', 'fastervit')
             for path in reference_cases(family)]


@pytest.mark.parametrize('fast', [True, False], ids=['fast_paths', 'plain'])
@pytest.mark.parametrize('family,path', REFERENCE, ids=[f'{f}-{p.stem}' for f, p in REFERENCE])
def test_matches_the_authors_model(family, path, fast):
    """Stage features and logits of the authors' model, through the converter contract, with
    the inference fast paths on and off (MMVITPLUG_FAST_PATHS)."""
    data = torch.load(path, map_location='cpu', weights_only=True)
    model = build_classifier(family, data['config'])
    model.load_state_dict(official_to_mmpretrain(family, data['state_dict']), strict=True)
    model.eval()
    for grad in (False, True):  # no_grad (where the fast paths run) and autograd
        with torch.set_grad_enabled(grad), fast_paths(fast):
            stages = model.backbone.forward_stages(data['input'])
            assert len(stages) == 4
            for ours, theirs in zip(stages, data['stages']):
                assert ours.shape == theirs.shape
                torch.testing.assert_close(ours.detach(), theirs, rtol=1e-4, atol=1e-4)
            logits = model(data['input'], mode='tensor')
            torch.testing.assert_close(logits.detach(), data['logits'], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('size', ANY_SIZES, ids=[f'{h}x{w}' for h, w in ANY_SIZES])
def test_any_input_size(tiny, size):
    h, w = size
    with torch.no_grad():
        outs = tiny(torch.randn(1, 3, h, w))
    expected = FAMILIES[tiny.family_key][3](h, w)
    for i, out in enumerate(outs):
        assert out.shape == (1, tiny.feature_info[i]['num_chs'], *expected[i])
        assert torch.isfinite(out).all()


def test_batch_agrees_with_single_images(tiny):
    torch.manual_seed(1)
    x = torch.randn(3, 3, 70, 117)
    with torch.no_grad():
        batch = tiny(x)
        singles = [tiny(x[i:i + 1]) for i in range(3)]
    for stage, out in enumerate(batch):
        torch.testing.assert_close(out, torch.cat([s[stage] for s in singles]), rtol=1e-4,
                                   atol=1e-5)


@pytest.mark.parametrize('grad', [True, False], ids=['grad', 'no_grad'])
def test_outputs_are_contiguous_nchw_for_compiled_ops(tiny, grad):
    """The stages run channels-last inside; mmcv's RoIAlign reads raw NCHW strides and silently
    returns garbage for a channels-last map (a detector then never learns), so the outputs
    must be plain contiguous NCHW, in training and inference alike."""
    from mmcv.ops import roi_align
    tiny.train(grad)
    x = torch.randn(2, 3, 64, 96)
    with torch.set_grad_enabled(grad):
        outs = tiny(x)
        stages = tiny.forward_stages(x)
    assert all(o.is_contiguous() for o in (*outs, *stages))
    rois = torch.tensor([[0, 2., 2., 10., 12.], [1, 0., 4., 15., 9.]])
    for out in outs:
        expected = roi_align(out.detach().clone(memory_format=torch.contiguous_format), rois,
                             (3, 3), 1.0, 0, 'avg', True)
        torch.testing.assert_close(roi_align(out.detach(), rois, (3, 3), 1.0, 0, 'avg', True),
                                   expected)
    tiny.train()


def test_forward_applies_output_norms_to_the_stage_features(tiny):
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        stages = tiny.forward_stages(x)
        outs = tiny(x)
    assert len(stages) == 4
    for i, (stage, out) in enumerate(zip(stages, outs)):
        torch.testing.assert_close(out, getattr(tiny, f'norm{i}')(stage))
    if tiny.family_key in ('fastervit', 'biformer'):  # the released model's final norm
        assert isinstance(tiny.norm3, torch.nn.BatchNorm2d)


@pytest.mark.parametrize('family', NAMES)
def test_out_indices_selects_stages(family):
    model = build(family, out_indices=(1, -1)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [model.feature_info[i]['num_chs'] for i in (1, 3)]
    assert not hasattr(model, 'norm0') and hasattr(model, 'norm3')


@pytest.mark.parametrize('family', NAMES)
def test_with_cp_same_outputs_and_gradients(family):
    torch.manual_seed(0)
    plain = build(family, drop_path_rate=0.0)
    checkpointed = build(family, drop_path_rate=0.0, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 100, 72)
    outs, grads = [], []
    for model in (plain, checkpointed):
        model.train()
        out = model(x)
        sum(o.square().mean() for o in out).backward()
        outs.append([o.detach() for o in out])
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6,
                                   msg=name)


@pytest.mark.parametrize('family', NAMES)
def test_frozen_stages_and_norm_eval(family):
    model = build(family, frozen_stages=2, norm_eval=True)
    model.train()
    frozen = ('patch_embed.', 'stages.0.', 'stages.1.', 'norm0.', 'norm1.')
    for name, param in model.named_parameters():
        assert param.requires_grad == (not name.startswith(frozen)), name
    for name, module in model.named_modules():
        if name.startswith(frozen):
            assert not module.training, name
        if isinstance(module, torch.nn.BatchNorm2d):
            assert not module.training, name  # norm_eval
    assert model.stages[2].blocks[0].training
    # Frozen stages' BatchNorm statistics do not move in training mode.
    stats = {n: b.clone() for n, b in model.named_buffers() if n.startswith(frozen)}
    model(torch.randn(2, 3, 64, 64))
    for name, before in stats.items():
        torch.testing.assert_close(model.get_buffer(name), before, msg=name)


@pytest.mark.parametrize('family', NAMES)
def test_get_layer_depth_covers_every_parameter(family):
    model = build(family)
    num_layers = sum(model.depths) + 2
    depths = {}
    for name, _ in model.named_parameters(prefix='backbone'):
        layer, total = model.get_layer_depth(name, prefix='backbone.')
        assert total == num_layers and 0 <= layer < num_layers, name
        depths[name[len('backbone.'):]] = layer
    for name, layer in FAMILIES[family][4].items():
        assert depths[name] == layer, name
    assert depths['norm3.weight'] == num_layers - 1
    assert set(depths.values()) == set(range(num_layers))
    assert model.get_layer_depth('head.fc.weight', prefix='backbone.') == (num_layers - 1,
                                                                          num_layers)


@pytest.mark.parametrize('family', NAMES)
def test_training_under_deterministic_algorithms(family):
    """``torch.use_deterministic_algorithms(True)`` must not break a training step (nor
    inference), and two identical steps give bitwise-identical gradients."""
    torch.manual_seed(0)
    model = build(family, drop_path_rate=0.0).train()
    x = torch.randn(2, 3, 96, 80)
    grads = []
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        for _ in range(2):
            model.zero_grad()
            sum(o.mean() for o in model(x)).backward()
            grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
        with torch.no_grad():  # and the inference paths
            model.eval()(x)
    finally:
        torch.use_deterministic_algorithms(previous)
    assert len(grads[0]) == len([p for p in model.parameters() if p.requires_grad])
    for a, b in zip(*grads):
        assert torch.equal(a, b)


@pytest.mark.parametrize('bad,message', [
    (torch.zeros(1, 4, 64, 64), r'\(N, 3, H, W\)'),
    (torch.zeros(3, 64, 64), r'\(N, 3, H, W\)'),
    (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), 'floating-point'),
    (torch.zeros(1, 3, 64, 31), 'H, W >= 32'),
])
def test_bad_input_is_a_clear_error(tiny, bad, message):
    with pytest.raises(ValueError, match=message):
        tiny(bad)


@pytest.mark.parametrize('family', NAMES)
def test_bad_arch_arguments_are_clear_errors(family):
    cls = FAMILIES[family][0]
    with pytest.raises(ValueError, match=f'unknown {cls.family} arch'):
        cls('no-such-variant')
    with pytest.raises(ValueError, match='misses'):
        cls({})
    with pytest.raises(ValueError, match=r"unknown keys \['no_such_knob'\]"):
        cls(dict(FAMILIES[family][1], no_such_knob=1))
    with pytest.raises(ValueError, match='one value per stage'):
        cls(dict(FAMILIES[family][1], depths=(1, 1, 2)))
    with pytest.raises(ValueError, match='out_indices'):
        build(family, out_indices=(0, 4))
    with pytest.raises(ValueError, match='frozen_stages'):
        build(family, frozen_stages=5)


@pytest.mark.parametrize('cls', [FasterViT, BiFormer, LITv2], ids=lambda c: c.__name__)
def test_builds_by_name_from_the_three_toolboxes(cls):
    from mmengine.registry import init_default_scope
    arch = inspect.signature(cls).parameters['arch'].default
    for scope in ('mmdet', 'mmseg', 'mmpretrain'):
        init_default_scope(scope)
        registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
        for name in (cls.__name__, f'mmvitplug.{cls.__name__}'):
            model = registry.build(dict(type=name, arch=arch, out_indices=(3, )))
            assert isinstance(model, cls) and model.arch_name == arch


# Official key holding the width of stage {i} in the released key listings (the ground truth).
STAGE_WIDTH_KEYS = {'fastervit': 'levels.{i}.blocks.0.norm1.weight',
                    'biformer': 'stages.{i}.0.norm1.weight',
                    'litv2': 'layers.{i}.blocks.0.norm2.weight'}
LISTINGS = {'fastervit': {'0': 'faster_vit_0_224', '1': 'faster_vit_1_224',
                          '2': 'faster_vit_2_224', '3': 'faster_vit_3_224',
                          '4': 'faster_vit_4_224', '5': 'faster_vit_5_224',
                          '6': 'faster_vit_6_224', '4_21k_224': 'faster_vit_4_21k_224',
                          '4_21k_384': 'faster_vit_4_21k_384', '4_21k_512': 'faster_vit_4_21k_512',
                          '4_21k_768': 'faster_vit_4_21k_768'},
            'biformer': {v: f'biformer_{v}' for v in ('tiny', 'small', 'base')},
            'litv2': {v: f'LITv2-{v.upper()}' for v in ('s', 'm', 'b')}}
VARIANTS = [(family, arch) for family in NAMES for arch in FAMILIES[family][0].arch_zoo]


@pytest.mark.parametrize('family,arch', VARIANTS, ids=[f'{f}-{a}' for f, a in VARIANTS])
def test_feature_info_gives_the_released_widths_and_strides(family, arch):
    from conftest import keys_listing
    cls = FAMILIES[family][0]
    listing = keys_listing(family, LISTINGS[family][arch], device='meta')
    widths = [listing[STAGE_WIDTH_KEYS[family].format(i=i)].shape[0] for i in range(4)]
    with torch.device('meta'):
        model = cls(arch)
    assert [f['num_chs'] for f in model.feature_info] == widths
    assert [f['reduction'] for f in model.feature_info] == [4, 8, 16, 32]
    assert [f['module'] for f in model.feature_info] == [f'stages.{i}' for i in range(4)]
    for i, info in enumerate(model.feature_info):  # the named module exists, output norms fit
        assert model.get_submodule(info['module']) is model.stages[i]
        assert getattr(model, f'norm{i}').weight.shape[0] == info['num_chs']


@pytest.mark.parametrize('family', NAMES)
def test_outputs_have_the_feature_info_strides(family):
    model = build(family).eval()
    h, w = 160, 224  # divisible by 32: every family's rounding agrees
    with torch.no_grad():
        outs = model(torch.randn(1, 3, h, w))
    for out, info in zip(outs, model.feature_info):
        assert out.shape[1:] == (info['num_chs'], h // info['reduction'], w // info['reduction'])


@pytest.mark.parametrize('family', FAMILIES)
def test_missing_pretrained_checkpoint_names_the_release_and_the_converter(family, tmp_path):
    """Not mmengine's loader traceback, and never a silent random init."""
    missing = str(tmp_path / 'checkpoints' / 'converted.pth')
    model = FAMILIES[family][0](init_cfg=dict(type='Pretrained', checkpoint=missing,
                                              prefix='backbone.'))  # the default variant
    with pytest.raises(FileNotFoundError) as info:
        model.init_weights()
    message = str(info.value)
    assert f'pretrained checkpoint not found: {missing}' in message
    assert f'python -m mmvitplug.converters {family} ' in message
    release = type(model).released_checkpoints[model.arch_name][0]
    assert release in message  # the authors' file of this variant


@pytest.mark.parametrize('family', NAMES)
def test_a_per_stage_value_or_one_for_all(family):
    cls, arch = FAMILIES[family][:2]
    widths = cls(arch).embed_dims
    assert cls(dict(arch, embed_dims=widths)).embed_dims == widths
    assert cls(dict(arch, embed_dims=widths[0])).embed_dims == tuple(
        widths[0] * 2**i for i in range(4))
    per_stage = cls(dict(arch, mlp_ratios=(1.0, 2.0, 3.0, 2.0)))
    assert per_stage.arch_settings['mlp_ratios'] == (1.0, 2.0, 3.0, 2.0)
    hidden = [m.fc1.out_features for m in per_stage.modules() if hasattr(m, 'fc1')]
    dims = per_stage.embed_dims
    for i, ratio in enumerate((1.0, 2.0, 3.0, 2.0)):
        if i >= 2 or family != 'fastervit':  # FasterViT's conv stages have no MLP
            assert int(dims[i] * ratio) in hidden


def _ops_called(fn) -> set:
    """Names of the ATen / extension ops ``fn()`` dispatches."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.add(str(func))
            return func(*args, **(kwargs or {}))

    with Record() as record:
        fn()
    return record.names


def test_one_switch_turns_every_fast_path_off():
    """With the switch off, inference runs the plain layers: no fused oneDNN conv (FasterViT's
    conv stages) or oneDNN linear (every family's projections and MLPs), no routed attention
    through the reused buffer (BiFormer)."""
    fastervit, biformer = build('fastervit').eval(), build('biformer', n_win=4).eval()
    litv2 = build('litv2').eval()
    x = torch.randn(1, 3, 96, 96)
    fused = {'mkldnn._convolution_pointwise.default', 'mkldnn._linear_pointwise.default'}
    buffered = 'aten.index_select.out'

    def ops(model):
        return _ops_called(lambda: model(x))
    with torch.no_grad():
        with fast_paths(True):
            fast = [ops(fastervit), ops(biformer), ops(litv2)]
        with fast_paths(False):
            plain = ops(fastervit) | ops(biformer) | ops(litv2)
    if torch.backends.mkldnn.is_available():
        assert fused <= fast[0] and 'mkldnn._linear_pointwise.default' in fast[1] & fast[2]
        assert 'aten.addmm.default' not in fast[0] | fast[2]  # every linear layer: oneDNN
    assert buffered in fast[1]
    assert not fused & plain and buffered not in plain


def test_the_fast_path_switch_reads_the_environment(monkeypatch):
    """The switch is read once, at import (one subprocess shows that); the parsing itself is
    checked in this process."""
    from conftest import run_python
    from mmvitplug.models.layers import switches
    code = 'from mmvitplug.models.layers import fast_paths_enabled; print(fast_paths_enabled())'
    assert run_python(['-c', code], env={'MMVITPLUG_FAST_PATHS': '0'},
                      check=True).stdout.strip() == 'False'
    monkeypatch.setenv('MMVITPLUG_FAST_PATHS', 'maybe')
    with pytest.raises(ValueError, match="MMVITPLUG_FAST_PATHS='maybe'"):
        switches._from_environment()
