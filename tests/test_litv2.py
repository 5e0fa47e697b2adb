"""LITv2: equality with the authors' model (reference cases), converters, any input size,
training utilities and input checks."""
import pytest
import torch
from torchvision.ops import deform_conv2d

from conftest import REPO, keys_listing, reference_cases, reference_dir
from conftest import build_classifier as build_classifier_for
from mmvitplug.converters import official_classifier_cfg, official_to_mmpretrain
from mmvitplug.models import LITv2
from mmvitplug.models.layers import deform_conv2d_2x2

TOL = dict(rtol=1e-4, atol=1e-4)
TINY = dict(embed_dims=16, depths=(1, 1, 2, 1), num_heads=(1, 1, 2, 4), mlp_ratios=2.0)


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


def test_init_weights_follows_the_authors_scheme():
    model = LITv2(arch=TINY)
    model.init_weights()
    fc1 = model.stages[0].blocks[0].mlp.fc1
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


@pytest.mark.parametrize('option,value,message', [
    ('ape', True, 'ape=False'),
    ('patch_size', 2, 'patch_size=4'),
    ('local_ws', None, 'needs one window size per stage'),
])
def test_unsupported_official_options_are_refused(option, value, message):
    config = dict(embed_dim=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8],
                  local_ws=[0, 0, 2, 1])
    config[option] = value
    with pytest.raises(ValueError, match=message):
        official_classifier_cfg('litv2', config)


def test_official_defaults_are_the_authors():
    """An option the official config omits takes the authors' default (alpha 0.5, drop path
    0.1), not the released models' values."""
    config = dict(embed_dim=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8],
                  local_ws=[0, 0, 2, 1])
    arch = official_classifier_cfg('litv2', config)['backbone']['arch']
    assert arch['alpha'] == 0.5 and arch['drop_path_rate'] == 0.1


def test_unknown_family_is_a_clear_error():
    with pytest.raises(ValueError, match='unknown family'):
        official_to_mmpretrain('vit', {})
    assert (REPO / 'tools' / 'model_converters' / 'litv2_to_mmvitplug.py').is_file()
