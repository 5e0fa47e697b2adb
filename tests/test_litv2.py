"""LITv2: equality with the authors' model (reference cases), converters, any input size,
training utilities and input checks."""
import math

import pytest
import torch
from torchvision.ops import deform_conv2d

from conftest import ANY_SIZES, REPO, keys_listing, reference_cases, reference_dir, run_python
from conftest import build_classifier as build_classifier_for
from mmvitplug.converters import official_classifier_cfg, official_to_mmpretrain
from mmvitplug.models import LITv2
from mmvitplug.models.layers import deform_conv2d_2x2

TOL = dict(rtol=1e-4, atol=1e-4)
TINY = dict(embed_dims=16, depths=(1, 1, 2, 1), num_heads=(1, 1, 2, 4), mlp_ratio=2.0)


def build_classifier(config: dict):
    return build_classifier_for('litv2', config)


def _reference_models():
    """(case file, sub-case name, model dict) for every stored case and sub-case."""
    for path in reference_cases('litv2'):
        data = torch.load(path, map_location='cpu', weights_only=True)
        for name in data.get('subcases', ['']):
            yield pytest.param(path, name, id=f'{path.stem}{"/" + name if name else ""}')


def test_reference_data_present():
    assert list(reference_dir('litv2').glob('*.pt'))


@pytest.mark.parametrize('path,subcase', list(_reference_models()))
def test_matches_the_authors_model(path, subcase):
    data = torch.load(path, map_location='cpu', weights_only=True)
    case = data[subcase] if subcase else data
    model = build_classifier(case['config'])
    model.load_state_dict(official_to_mmpretrain('litv2', case['state_dict']), strict=True)
    model.eval()
    with torch.no_grad():
        stages = model.backbone.forward_stages(data['input'])
        assert len(stages) == 4
        for ours, theirs in zip(stages, case['stages']):
            assert ours.shape == theirs.shape
            torch.testing.assert_close(ours, theirs, **TOL)
        if case['logits'] is not None:
            logits = model(data['input'], mode='tensor')
            torch.testing.assert_close(logits, case['logits'], **TOL)


def _keys_listing(variant: str):
    return keys_listing('litv2', variant)


@pytest.mark.parametrize('variant,arch,params', [('LITv2-S', 's', 27_844_000),
                                                  ('LITv2-M', 'm', 48_830_368),
                                                  ('LITv2-B', 'b', 86_520_704)])
def test_released_variants_convert_and_load_strictly(variant, arch, params):
    official = _keys_listing(variant)
    zoo = LITv2.arch_zoo[arch]
    config = dict(embed_dim=zoo['embed_dims'], depths=list(zoo['depths']),
                  num_heads=list(zoo['num_heads']), mlp_ratio=4.0, alpha=0.9,
                  local_ws=[0, 0, 2, 1], has_msa=[0, 0, 1, 1], num_classes=1000)
    model = build_classifier(config)
    converted = official_to_mmpretrain('litv2', official)
    model.load_state_dict(converted, strict=True)
    count = sum(v.numel() for k, v in official.items() if v.is_floating_point())
    ours = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for n, b in model.named_buffers() if b.is_floating_point())
    print(f'{variant}: {count:,} official parameters+buffers, {ours:,} ours')
    assert ours == count
    # The published counts are parameters only (BatchNorm running statistics excluded).
    assert sum(p.numel() for p in model.parameters()) == params
    # The backbone built by name has the same layout as the converted classifier's.
    backbone_keys = {k[len('backbone.'):] for k in converted if k.startswith('backbone.')}
    assert set(LITv2(arch, out_indices=(3, )).state_dict()) == backbone_keys


SIZES = ANY_SIZES


@pytest.fixture(scope='module')
def tiny():
    torch.manual_seed(0)
    return LITv2(arch=TINY, alpha=0.5).eval()


@pytest.mark.parametrize('size', SIZES, ids=[f'{h}x{w}' for h, w in SIZES])
def test_any_input_size(tiny, size):
    """Stage sizes: ceil(side / 4) after the patch embedding, then floor(side / 2) per merge."""
    h, w = size
    with torch.no_grad():
        outs = tiny(torch.randn(1, 3, h, w))
    side_h, side_w = math.ceil(h / 4), math.ceil(w / 4)
    for i, out in enumerate(outs):
        assert out.shape == (1, tiny.embed_dims[i], side_h, side_w)
        assert torch.isfinite(out).all()
        side_h, side_w = side_h // 2, side_w // 2


def test_batch_sizes_one_to_nine_agree_with_single_images(tiny):
    torch.manual_seed(1)
    x = torch.randn(9, 3, 70, 53)
    with torch.no_grad():
        singles = [tiny(x[i:i + 1]) for i in range(9)]
        for b in range(1, 10):
            outs = tiny(x[:b])
            for stage, out in enumerate(outs):
                expected = torch.cat([s[stage] for s in singles[:b]])
                torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_forward_applies_output_norms_to_the_stage_features(tiny):
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        stages = tiny.forward_stages(x)
        outs = tiny(x)
    for i, (stage, out) in enumerate(zip(stages, outs)):
        norm = getattr(tiny, f'norm{i}')
        expected = norm(stage)
        torch.testing.assert_close(out, expected)


def test_out_indices_selects_stages():
    model = LITv2(arch=TINY, out_indices=(1, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 128]
    assert not hasattr(model, 'norm0') and hasattr(model, 'norm3')


def test_with_cp_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = LITv2(arch=TINY, drop_path_rate=0.0)
    checkpointed = LITv2(arch=TINY, drop_path_rate=0.0, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 72, 64)
    grads = []
    for model in (plain, checkpointed):
        model.train()
        outs = model(x)
        sum(o.square().mean() for o in outs).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
        model.zero_grad()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6,
                                   msg=name)


def test_frozen_stages_and_norm_eval():
    model = LITv2(arch=TINY, frozen_stages=2, norm_eval=True)
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
    # A frozen stage's BatchNorm statistics do not move in training mode.
    before = model.stages[0].downsample.norm.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(model.stages[0].downsample.norm.running_mean, before)


def test_get_layer_depth_covers_every_parameter():
    model = LITv2(arch=TINY)
    num_layers = sum(TINY['depths']) + 2
    depths = {}
    for name, _ in model.named_parameters(prefix='backbone'):
        layer, total = model.get_layer_depth(name, prefix='backbone.')
        assert total == num_layers and 0 <= layer < num_layers, name
        depths[name] = layer
    assert depths['backbone.patch_embed.proj.weight'] == 0
    assert depths['backbone.stages.0.blocks.0.ffn.fc1.weight'] == 1
    assert depths['backbone.stages.2.blocks.1.attn.lofi_q.weight'] == 4
    assert depths['backbone.stages.2.downsample.weight'] == 4
    assert depths['backbone.norm3.weight'] == num_layers - 1
    assert set(depths.values()) == set(range(num_layers))


@pytest.mark.parametrize('bad,message', [
    (torch.zeros(1, 4, 64, 64), r'\(N, 3, H, W\)'),
    (torch.zeros(3, 64, 64), r'\(N, 3, H, W\)'),
    (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), 'floating-point'),
    (torch.zeros(1, 3, 31, 64), 'H, W >= 32'),
])
def test_bad_input_is_a_clear_error(tiny, bad, message):
    with pytest.raises(ValueError, match=message):
        tiny(bad)


def test_init_weights_follows_the_authors_scheme():
    model = LITv2(arch=TINY)
    model.init_weights()
    fc1 = model.stages[0].blocks[0].ffn.fc1
    assert 0.015 < fc1.weight.std() < 0.025
    assert not fc1.bias.any()
    merge = model.stages[0].downsample
    assert not merge.conv_offset.weight.any() and not merge.conv_offset.bias.any()
    assert merge.weight.std() > 0


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match='unknown LITv2 arch'):
        LITv2('xl')
    with pytest.raises(ValueError, match='misses'):
        LITv2(dict(embed_dims=32))
    with pytest.raises(ValueError, match='alpha'):
        LITv2(TINY, alpha=1.5)
    with pytest.raises(ValueError, match='out_indices'):
        LITv2(TINY, out_indices=(0, 4))
    assert LITv2(TINY, out_indices=(-1, )).out_indices == (3, )


@pytest.mark.parametrize('alpha', [0.0, 0.5, 1.0])
def test_alpha_edges_build_the_right_branches(alpha):
    attn = LITv2(TINY, alpha=alpha).stages[2].blocks[0].attn
    assert hasattr(attn, 'hifi_qkv') == (alpha < 1.0)
    assert hasattr(attn, 'lofi_q') == (alpha > 0.0)


@pytest.mark.parametrize('shape', [(2, 16, 56, 56), (3, 8, 29, 25), (1, 4, 13, 11), (2, 4, 2, 3)])
def test_deform_conv_matches_torchvision(shape):
    """Our DCN v1 equals torchvision.ops.deform_conv2d, values and gradients, with offsets large
    enough that taps leave the map."""
    torch.manual_seed(0)
    b, c, h, w = shape
    ho, wo = h // 2, w // 2
    x = torch.randn(b, c, h, w, dtype=torch.float64, requires_grad=True)
    offset = (torch.randn(b, 8, ho, wo, dtype=torch.float64) * 2).requires_grad_()
    weight = torch.randn(6, c, 2, 2, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(6, dtype=torch.float64, requires_grad=True)
    ref = deform_conv2d(x, offset, weight, bias, stride=2)
    ours = deform_conv2d_2x2(x.permute(0, 2, 3, 1), offset, weight, bias).permute(0, 3, 1, 2)
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ref)
    ref_grads = torch.autograd.grad(ref, (x, offset, weight, bias), g)
    our_grads = torch.autograd.grad(ours, (x, offset, weight, bias), g)
    for name, a, r in zip(('x', 'offset', 'weight', 'bias'), our_grads, ref_grads):
        torch.testing.assert_close(a, r, msg=name)


def test_builds_by_name_from_the_three_toolboxes():
    from mmengine.registry import init_default_scope
    for scope in ('mmdet', 'mmseg', 'mmpretrain'):
        init_default_scope(scope)
        registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
        model = registry.build(dict(type='LITv2', arch='s', out_indices=(3, )))
        assert isinstance(model, LITv2) and model.embed_dims == [96, 192, 384, 768]


def test_converter_tool_round_trip(tmp_path):
    path = reference_cases('litv2')[0]
    data = torch.load(path, map_location='cpu', weights_only=True)
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save({'model': data['state_dict'], 'epoch': 3}, src)
    proc = run_python(['tools/model_converters/litv2_to_mmvitplug.py', str(src), str(dst),
                       '--config', repr(data['config'])], check=True)
    assert 'loads strictly' in proc.stdout
    converted = torch.load(dst, map_location='cpu', weights_only=True)
    model = build_classifier(data['config'])
    model.load_state_dict(converted['state_dict'], strict=True)
    assert converted['meta']['family'] == 'litv2'

    # A checkpoint of another architecture is refused with the key differences, not loaded.
    broken = dict(data['state_dict'])
    broken.pop('layers.2.blocks.0.attn.l_q.weight')
    broken['layers.2.blocks.0.attn.extra'] = torch.zeros(1)
    torch.save({'model': broken}, src)
    proc = run_python(['tools/model_converters/litv2_to_mmvitplug.py', str(src), str(dst),
                       '--config', repr(data['config'])])
    assert proc.returncode == 2
    assert 'stages.2.blocks.0.attn.lofi_q.weight' in proc.stderr  # missing
    assert 'extra' in proc.stderr  # unexpected
    assert 'Traceback' not in proc.stderr


def test_converter_tool_infers_released_variants(tmp_path):
    official = _keys_listing('LITv2-S')
    src, dst = tmp_path / 'litv2_s.pth', tmp_path / 'out.pth'
    torch.save({'model': official}, src)
    proc = run_python(['tools/model_converters/litv2_to_mmvitplug.py', str(src), str(dst)],
                      check=True)
    assert "arch 's'" in proc.stdout and dst.is_file()


def test_unsupported_official_options_are_refused():
    config = dict(embed_dim=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8], ape=True)
    with pytest.raises(ValueError, match='ape=False'):
        official_classifier_cfg('litv2', config)


def test_unknown_family_is_a_clear_error():
    with pytest.raises(ValueError, match='unknown family'):
        official_to_mmpretrain('vit', {})
    assert (REPO / 'tools' / 'model_converters' / 'litv2_to_mmvitplug.py').is_file()
