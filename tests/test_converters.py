"""The converters of the three families: released layouts load strictly with the published
parameter counts; the command (``python -m mmvitplug.converters FAMILY SRC DST``, and the
repository's tools/model_converters/<family>_to_mmvitplug.py that wrap it) round-trips every
official checkpoint layout, refuses other architectures, recognises released variants and
states the licence of the converted weights."""
import re

import pytest
import torch

from conftest import build_classifier, keys_listing, reference_dir, run_python
from mmvitplug.converters import CONVERTERS, official_to_mmpretrain
from mmvitplug.converters.cli import main as converter_main
from mmvitplug.licences import FAMILY_LICENCES
from mmvitplug.models import BiFormer, FasterViT

# (family, key listing, arch, parameters of the classifier, published in millions or None:
# FasterViT's counts are the reference README's exact table). LITv2's listings hold BatchNorm
# statistics in its count and are checked in test_litv2.py.
RELEASED = [('fastervit', 'faster_vit_0_224', '0', 31_404_840, None),
            ('fastervit', 'faster_vit_1_224', '1', 53_366_696, None),
            ('fastervit', 'faster_vit_2_224', '2', 75_923_816, None),
            ('fastervit', 'faster_vit_3_224', '3', 159_547_944, None),
            ('fastervit', 'faster_vit_4_224', '4', 365_555_712, None),
            ('fastervit', 'faster_vit_5_224', '5', 957_520_552, None),
            ('fastervit', 'faster_vit_6_224', '6', 1_360_328_872, None),
            ('fastervit', 'faster_vit_4_21k_224', '4_21k_224', 271_944_224, None),
            ('fastervit', 'faster_vit_4_21k_384', '4_21k_384', 271_944_224, None),
            ('fastervit', 'faster_vit_4_21k_512', '4_21k_512', 271_944_224, None),
            ('fastervit', 'faster_vit_4_21k_768', '4_21k_768', 271_944_224, None),
            ('biformer', 'biformer_tiny', 'tiny', 13_142_760, 13.1),
            ('biformer', 'biformer_small', 'small', 25_536_232, 25.5),
            ('biformer', 'biformer_base', 'base', 56_804_968, 56.8)]
BACKBONES = {'fastervit': FasterViT, 'biformer': BiFormer}


@pytest.mark.parametrize('family,listing,arch,params,published', RELEASED,
                         ids=[r[1] for r in RELEASED])
def test_released_variants_convert_and_load_strictly(family, listing, arch, params, published):
    converter = CONVERTERS[family]
    official = keys_listing(family, listing, device='meta')
    inferred = converter.infer_config(official)
    assert inferred['arch'] == arch
    with torch.device('meta'):  # layouts only: the large variants hold billions of weights
        model = build_classifier(family, inferred['config'])
        backbone = BACKBONES[family](arch, out_indices=(3, ))
    converted = official_to_mmpretrain(family, official)
    model.load_state_dict(converted, strict=True)
    count = sum(p.numel() for p in model.parameters())
    print(f'{listing}: {count:,} parameters')
    assert count == params
    if published is not None:
        assert round(count / 1e6, 1) == published
    # The backbone built by name has the classifier's layout; FasterViT's geometry buffers
    # (recomputed from the input) are not carried over.
    backbone_keys = {k[len('backbone.'):] for k in converted if k.startswith('backbone.')}
    assert set(backbone.state_dict()) == backbone_keys
    assert not any(k.endswith(('relative_bias', 'relative_coords_table',
                               'relative_position_index')) for k in converted)

# family -> reference case, an official key to drop and the mmvitplug key then missing, a
# released key listing and its arch
FAMILIES = {
    'fastervit': dict(case='tiny_ls_prop_224', drop='levels.2.blocks.0.hat_attn.qkv.weight',
                      missing='stages.2.blocks.0.carrier.attn.qkv.weight',
                      listing='faster_vit_0_224', arch='0'),
    'biformer': dict(case='tiny_autopad_288x200', drop='stages.1.0.attn.qkv.qkv.weight',
                     missing='stages.1.blocks.0.attn.qkv.weight', listing='biformer_tiny',
                     arch='tiny'),
    'litv2': dict(case='tiny_224', drop='layers.2.blocks.0.attn.l_q.weight',
                  missing='stages.2.blocks.0.attn.lofi_q.weight', listing='LITv2-S', arch='s'),
}


def _tool(family: str) -> str:
    return f'tools/model_converters/{family}_to_mmvitplug.py'


def _case(family: str) -> dict:
    return torch.load(reference_dir(family) / f'{FAMILIES[family]["case"]}.pt',
                      map_location='cpu', weights_only=True)


def _save(weights, path, layout: str) -> None:
    torch.save(weights if layout == 'bare' else {layout: weights, 'epoch': 300}, path)


@pytest.mark.parametrize('layout', ['state_dict', 'model', 'bare'])
@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_round_trip(tmp_path, family, layout, capsys):
    data = _case(family)
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    _save(data['state_dict'], src, layout)
    args = [str(src), str(dst), '--config', repr(data['config'])]
    if layout == 'model':  # the authors' layout: through the command, as a user runs it
        out = run_python(['-m', 'mmvitplug.converters', family, *args], check=True).stdout
    else:  # the other layouts in-process (a subprocess costs seconds of imports)
        assert converter_main(family, 'doc', args) == 0
        out = capsys.readouterr().out
    assert 'loads strictly' in out
    assert f'licence: The authors\' {FAMILY_LICENCES[family].family} weights' in out
    assert FAMILY_LICENCES[family].url in out
    converted = torch.load(dst, map_location='cpu', weights_only=True)
    assert converted['meta']['family'] == family
    assert converted['meta']['weights_licence'] == FAMILY_LICENCES[family].spdx
    assert converted['state_dict'].keys() == official_to_mmpretrain(
        family, data['state_dict']).keys()
    model = build_classifier(family, data['config']).eval()
    model.load_state_dict(converted['state_dict'], strict=True)
    if data.get('logits') is not None:
        with torch.no_grad():
            torch.testing.assert_close(model(data['input'], mode='tensor'), data['logits'],
                                       rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_refuses_another_architecture(tmp_path, family):
    data, spec = _case(family), FAMILIES[family]
    broken = dict(data['state_dict'])
    broken.pop(spec['drop'])
    broken[spec['drop'].rsplit('.', 2)[0] + '.extra'] = torch.zeros(1)
    src, dst = tmp_path / 'official.pth', tmp_path / 'out.pth'
    _save(broken, src, 'model')
    proc = run_python([_tool(family), str(src), str(dst), '--config', repr(data['config'])])
    assert proc.returncode == 2
    assert spec['missing'] in proc.stderr  # missing
    assert 'extra' in proc.stderr  # unexpected
    assert 'Traceback' not in proc.stderr and not dst.exists()


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_recognises_released_variants(tmp_path, family):
    spec = FAMILIES[family]
    src, dst = tmp_path / 'released.pth', tmp_path / 'out.pth'
    _save(keys_listing(family, spec['listing']), src, 'model')
    proc = run_python([_tool(family), str(src), str(dst)], check=True)
    assert f"arch '{spec['arch']}'" in proc.stdout and dst.is_file()


def test_missing_file_is_a_clear_error(tmp_path):
    proc = run_python([_tool('biformer'), str(tmp_path / 'nothing.pth'), str(tmp_path / 'o')])
    assert proc.returncode == 2 and 'not found' in proc.stderr


def test_the_command_help_names_the_families_and_their_weights_licences():
    proc = run_python(['-m', 'mmvitplug.converters', '--help'], check=True)
    assert proc.stdout.startswith('usage: python -m mmvitplug.converters')
    for family, licence in FAMILY_LICENCES.items():
        assert f'python -m mmvitplug.converters {family} ' in proc.stdout  # an example
        assert licence.name in proc.stdout and licence.url in proc.stdout
    assert 'non-commercial' in proc.stdout and 'Apache-2.0' in proc.stdout
    # a family's script: the same command for its family
    script = run_python([_tool('fastervit'), '--help'], check=True).stdout
    assert 'python -m mmvitplug.converters fastervit' in script
    assert FAMILY_LICENCES['fastervit'].name in script and 'MIT' not in script


def test_an_unknown_family_names_the_accepted_ones(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        converter_main(None, None, ['swin', str(tmp_path / 'a.pth'), str(tmp_path / 'b.pth')])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'swin'" in err
    assert all(repr(f) in err for f in sorted(CONVERTERS))


# ---------------------------------------------------------------------- the authors' knobs
# Each family's architectural options beyond the released values, set in an official config,
# with the state_dict layout the authors' constructor gives them (written out from their model
# definitions: which tensors each option adds, removes or reshapes).
def _fill(shape, generator):
    return torch.randn(shape, generator=generator) * 0.2


def _biformer_layout(sd, config, g):
    """side_dwconv: the LePE kernels; mlp_ratios: fc shapes; layer_scale_init_value > 0:
    gamma1/gamma2 per block; mlp_dwconv: ``mlp.1.dwconv`` (3x3 depthwise) per block."""
    out = {}
    dims, k = config['embed_dim'], config['side_dwconv']
    for key, value in sd.items():
        m = re.match(r'stages\.(\d+)\.(\d+)\.', key)
        if m:
            i, dim = int(m.group(1)), config['embed_dim'][int(m.group(1))]
            hidden = int(dim * config['mlp_ratios'][i])
            shapes = {'attn.lepe.weight': (dim, 1, k, k), 'mlp.0.weight': (hidden, dim),
                      'mlp.0.bias': (hidden, ), 'mlp.3.weight': (dim, hidden)}
            part = key[m.end():]
            value = _fill(shapes[part], g) if part in shapes else value
            block = key[:m.end()]
            out[block + 'gamma1'] = torch.full((dims[i], ), 0.5)
            out[block + 'gamma2'] = torch.full((dims[i], ), 0.5)
            out[block + 'mlp.1.dwconv.weight'] = _fill((hidden, 1, 3, 3), g)
            out[block + 'mlp.1.dwconv.bias'] = _fill((hidden, ), g)
        out[key] = value
    return out


def _fastervit_layout(sd, config, g):
    """layer_scale_conv: ``gamma`` per conv block; layer_norm_last: the final norm is a
    LayerNorm (weight and bias, no running statistics)."""
    out = {k: v for k, v in sd.items() if not (k.startswith('norm.') and 'running' in k
                                                or k == 'norm.num_batches_tracked')}
    for key in sd:
        m = re.match(r'(levels\.[01]\.blocks\.\d+\.)conv1\.weight$', key)
        if m:
            out[m.group(1) + 'gamma'] = torch.full((sd[key].shape[0], ), 0.5)
    return out


def _litv2_layout(sd, config, g):
    """patch_norm=False: no ``patch_embed.norm``; mlp_ratio: fc and depthwise conv shapes."""
    out = {}
    for key, value in sd.items():
        if key.startswith('patch_embed.norm.'):
            continue
        m = re.match(r'layers\.(\d+)\.blocks\.\d+\.mlp\.', key)
        if m:
            dim = config['embed_dim'] * 2**int(m.group(1))
            hidden = int(dim * config['mlp_ratio'])
            shapes = {'fc1.weight': (hidden, dim), 'fc1.bias': (hidden, ),
                      'dwconv.dwconv.weight': (hidden, 1, 3, 3), 'dwconv.dwconv.bias': (hidden, ),
                      'fc2.weight': (dim, hidden)}
            value = _fill(shapes[key[m.end():]], g) if key[m.end():] in shapes else value
        out[key] = value
    return out


KNOBS = {
    'biformer': ('tiny_224', dict(side_dwconv=3, mlp_ratios=[2, 3, 4, 3],
                                  layer_scale_init_value=0.5, mlp_dwconv=True),
                 _biformer_layout),
    'fastervit': ('tiny_224', dict(layer_scale_conv=0.5, layer_norm_last=True, ct_size=1,
                                   window_size=[7, 7, 5, 4]), _fastervit_layout),
    'litv2': ('tiny_224', dict(patch_norm=False, mlp_ratio=3.0, local_ws=[0, 0, 3, 1]),
              _litv2_layout),
}


@pytest.mark.parametrize('family', sorted(KNOBS))
def test_the_authors_architectural_options_convert_and_run(family):
    case, options, layout = KNOBS[family]
    data = torch.load(reference_dir(family) / f'{case}.pt', map_location='cpu',
                      weights_only=True)
    config = dict(data['config'], **options)
    official = layout(data['state_dict'], config, torch.Generator().manual_seed(0))
    model = build_classifier(family, config).eval()
    model.load_state_dict(official_to_mmpretrain(family, official), strict=True)
    backbone = model.backbone
    for key, value in options.items():  # the options reach the arch settings
        option = next(o for o in CONVERTERS[family].options if o.official == key)
        expected = option.to_ours(value)
        if option.ours in backbone.per_stage_keys:
            expected = backbone._per_stage(option.ours, expected)
        assert backbone.arch_settings[option.ours] == expected, key
    with torch.no_grad():
        for h, w in ((97, 131), (64, 229)):
            x = torch.randn(2, 3, h, w)
            outs = backbone.forward_stages(x)
            assert [o.shape[1] for o in outs] == [f['num_chs'] for f in backbone.feature_info]
            assert all(torch.isfinite(o).all() for o in outs)
            assert torch.isfinite(model(x, mode='tensor')).all()
    _check_option_semantics(family, backbone)


def _check_option_semantics(family, backbone):
    """What each option means in the authors' constructor."""
    from mmvitplug.models.layers import ConvFFN, LayerNorm2d
    x = torch.randn(1, backbone.embed_dims[0], 9, 11)
    if family == 'biformer':
        for stage in backbone.stages:
            for block in stage.blocks:
                # side_dwconv: the depthwise LePE conv on V, padding kernel // 2
                lepe = block.attn.lepe
                assert lepe.kernel_size == (3, 3) and lepe.padding == (1, 1)
                assert lepe.groups == lepe.in_channels
                assert isinstance(block.mlp, ConvFFN)  # mlp_dwconv
        # layer scale: zero scales make a block its position encoding only
        block = backbone.stages[0].blocks[0]
        with torch.no_grad():
            block.gamma1.zero_()
            block.gamma2.zero_()
            expected = x + block.pos_embed(x)
            torch.testing.assert_close(block(x), expected)
    elif family == 'fastervit':
        assert isinstance(backbone.norm3, LayerNorm2d)  # layer_norm_last
        block = backbone.stages[0].blocks[0]
        with torch.no_grad():  # layer_scale_conv scales the conv branch
            block.gamma.zero_()
            torch.testing.assert_close(block(x), x)
        assert backbone.window_size[2:] == (5, 4)
        assert backbone.stages[2].carrier_init.ct_size == 1
    else:
        assert backbone.patch_embed.norm is None  # patch_norm=False: the raw patch conv
        image = torch.randn(1, 3, 36, 44)
        with torch.no_grad():
            torch.testing.assert_close(backbone.patch_embed(image),
                                       backbone.patch_embed.proj(image))
        assert backbone.stages[2].blocks[0].attn.window_size == 3
