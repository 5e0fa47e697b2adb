"""The converters of the three families: released layouts load strictly with the published
parameter counts; the tools (tools/model_converters/<family>_to_mmvitplug.py) round-trip every
official checkpoint layout, refuse other architectures and recognise released variants."""
from importlib import import_module

import pytest
import torch

from conftest import build_classifier, keys_listing, reference_dir, run_python
from mmvitplug.converters import official_to_mmpretrain
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
    converter = import_module(f'mmvitplug.converters.{family}')
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
def test_round_trip(tmp_path, family, layout):
    data = _case(family)
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    _save(data['state_dict'], src, layout)
    proc = run_python([_tool(family), str(src), str(dst), '--config', repr(data['config'])],
                      check=True)
    assert 'loads strictly' in proc.stdout
    converted = torch.load(dst, map_location='cpu', weights_only=True)
    assert converted['meta']['family'] == family
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
