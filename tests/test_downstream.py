"""The authors' released detectors and segmentors through mmvitplug: the dense output norms of
their backbones (``out_norms``), ImageNet weights that leave those norms fresh (also by URL),
and the converters on checkpoints in the released layout - checked against outputs of the
authors' own dense backbones (tests/data/downstream, made by
tools/reference/make_downstream_references.py)."""
import http.server
import threading
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope

from conftest import REPO, keys_listing, reference_dir
from mmvitplug.converters import CONVERTERS
from mmvitplug.converters.cli import main as converter_main
from mmvitplug.converters import downstream
from mmvitplug.converters.downstream import model_cfg_of
from mmvitplug.models import BiFormer, FasterViT, LITv2
from mmvitplug.models.layers import LayerNorm2d
from mmvitplug.registry import MODELS

DATA = REPO / 'tests' / 'data' / 'downstream'
TINY_LITV2 = dict(embed_dims=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8), alpha=0.5,
                  mlp_ratios=2.0)


# ---------------------------------------------------------------------- out_norms
def test_out_norms_build_the_requested_norms():
    model = LITv2(TINY_LITV2, out_norms=(None, 'LN', 'BN', 'LN'))
    assert isinstance(model.norm0, nn.Identity) and not list(model.norm0.parameters())
    assert isinstance(model.norm1, LayerNorm2d) and model.norm1.eps == 1e-5
    assert isinstance(model.norm2, nn.BatchNorm2d)
    assert not any(k.startswith('norm0.') for k in model.state_dict())
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        stage1 = model.forward_stages(x)[0]
        torch.testing.assert_close(model(x)[0], stage1)  # no norm on stage 1
    biformer = BiFormer('tiny', out_norms='LN')
    assert all(isinstance(getattr(biformer, f'norm{i}'), LayerNorm2d) for i in range(4))
    assert biformer.norm3.eps == 1e-6  # timm's LayerNorm2d, the authors' extra_norms
    assert isinstance(BiFormer('tiny').norm3, nn.BatchNorm2d)  # default: the classifier's
    assert isinstance(FasterViT('0', out_norms='BN').norm0, nn.BatchNorm2d)


@pytest.mark.parametrize('out_norms,message', [
    ('GN', 'out_norms takes one of'), (('LN', 'LN'), 'per stage (4)'),
    (('classifier', 'LN', 'LN', 'LN'), 'only the last stage')])
def test_out_norms_refuses_what_it_cannot_build(out_norms, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)')):
        LITv2(TINY_LITV2, out_norms=out_norms)


def _litv2_classifier_file(tmp_path) -> Path:
    """The authors' LITv2 classifier layout (tiny reference weights), as they release it."""
    data = torch.load(reference_dir('litv2') / 'tiny_224.pt', map_location='cpu',
                      weights_only=True)
    path = tmp_path / 'litv2_tiny.pth'
    torch.save({'model': data['state_dict']}, path)
    return path


@pytest.mark.parametrize('out_norms,loads_final_norm', [(None, True),
                                                         ((None, 'LN', 'LN', 'LN'), False)])
def test_imagenet_weights_leave_fresh_output_norms_fresh(tmp_path, out_norms, loads_final_norm):
    """As the authors' dense backbones load their classifier non-strictly without its final
    norm: a fresh stage-4 norm keeps its initialisation, everything else loads."""
    path = _litv2_classifier_file(tmp_path)
    official = torch.load(path, weights_only=True)['model']
    model = LITv2(TINY_LITV2, out_norms=out_norms,
                  init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    model.init_weights()
    torch.testing.assert_close(model.patch_embed.proj.weight, official['patch_embed.proj.weight'])
    final = official['norm.weight']
    assert torch.equal(model.norm3.weight, final) == loads_final_norm
    if not loads_final_norm:
        assert torch.equal(model.norm3.weight, torch.ones_like(final))


class _Server:
    """A loopback HTTP server of one folder that counts its requests."""

    def __init__(self, folder: Path) -> None:
        counts = self.requests = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):  # noqa: N802 (http.server's name)
                counts.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_pretrained_by_url_downloads_once_and_converts_the_authors_file(tmp_path, monkeypatch):
    """A config may name the authors' checkpoint URL: it is downloaded once into mmengine's
    checkpoint cache (torch hub's dir) and converted on the fly."""
    served = tmp_path / 'served'
    served.mkdir()
    path = _litv2_classifier_file(served)
    official = torch.load(path, weights_only=True)['model']
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    with _Server(served) as server:
        init_cfg = dict(type='Pretrained', checkpoint=f'{server.url}/{path.name}',
                        prefix='backbone.')
        for _ in range(2):
            model = LITv2(TINY_LITV2, out_norms=(None, 'LN', 'LN', 'LN'), init_cfg=init_cfg)
            model.init_weights()
            torch.testing.assert_close(model.stages[2].blocks[0].attn.lofi_q.weight,
                                       official['layers.2.blocks.0.attn.l_q.weight'])
        assert server.requests == [f'/{path.name}']  # the second model read the cache
    assert (tmp_path / 'torch_home' / 'hub' / 'checkpoints' / path.name).is_file()


def test_pretrained_url_that_fails_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    with _Server(tmp_path) as server:
        model = LITv2(TINY_LITV2, init_cfg=dict(type='Pretrained',
                                                checkpoint=f'{server.url}/missing.pth'))
        with pytest.raises(Exception, match='404'):
            model.init_weights()
    assert not list((tmp_path / 'torch_home').rglob('missing.pth'))


# ---------------------------------------------------------------------- released checkpoints
# reference case -> the shipped configs its tiny target inherits, with head settings shrunk
SHRUNK_ROI_HEAD = 'roi_head=dict(bbox_head=dict(fc_out_channels=64))'
TARGETS = {
    'biformer_det_tiny': [('configs/biformer/mask-rcnn_biformer-small_fpn_1x_coco.py',
                           SHRUNK_ROI_HEAD),
                          # strides 8-32: the stride-4 norm of BiFormer_mm is left out
                          ('configs/biformer/retinanet_biformer-small_fpn_1x_coco.py', '')],
    'biformer_seg_tiny': [('configs/biformer/fpn_biformer-small_8xb4-80k_ade20k-512x512.py', ''),
                          ('configs/biformer/upernet_ade20k.py', '')],
    'litv2_det_tiny': [('configs/litv2/retinanet_litv2-s_fpn_1x_coco.py', '')],
    'litv2_det_ws4_tiny': [('configs/litv2/mask-rcnn_litv2-s-ws4_fpn_1x_coco.py',
                            SHRUNK_ROI_HEAD)],
    'litv2_seg_tiny': [('configs/litv2/fpn_litv2-s_8xb2-80k_ade20k-512x512.py', '')],
}
CASES = sorted(DATA.glob('*.pt'))


def _case(path: Path) -> dict:
    return torch.load(path, map_location='cpu', weights_only=True)


def _target_config(tmp_path: Path, base: str, case: dict, heads: str) -> Path:
    """A config inheriting ``base`` with the case's tiny backbone (its arch from the authors'
    kwargs through the converter) and the neck and heads sized for it."""
    converter = CONVERTERS[case['family']]
    arch = converter.backbone_cfg(case['config'], dense=True)[0]['arch']
    widths = list(converter.backbone_class.arch_settings_of(arch)['embed_dims'])
    outputs = Config.fromfile(str(REPO / base)).model.backbone.get('out_indices', range(4))
    if case['task'] == 'det':
        parts = f"neck=dict(in_channels={[widths[i] for i in outputs]}), {heads}"
    elif 'upernet' in base:
        parts = (f'decode_head=dict(in_channels={widths}), '
                 f'auxiliary_head=dict(in_channels={widths[2]})')
    else:
        parts = f'neck=dict(in_channels={widths})'
    path = tmp_path / f'target_{Path(base).stem}.py'
    path.write_text(f'_base_ = [{str(REPO / base)!r}]\n'
                    f'model = dict(backbone=dict(arch=dict(_delete_=True, **{arch!r})), '
                    f'{parts})\n')
    return path


def _build(config: Path):
    """The model of ``config`` (SyncBN reverted: one process)."""
    model_cfg, scope = model_cfg_of(str(config))
    with DefaultScope.overwrite_default_scope(scope):
        return revert_sync_batchnorm(MODELS.build(model_cfg))


def _targets():
    for path in CASES:
        for base, heads in TARGETS[path.stem]:
            yield pytest.param(path, base, heads, id=f'{path.stem}-{Path(base).stem}')


@pytest.mark.skipif(not CASES, reason=f'no reference cases in {DATA}')
@pytest.mark.parametrize('case_path,base,heads', list(_targets()))
def test_released_checkpoint_converts_loads_strictly_and_gives_the_authors_outputs(
        tmp_path, capsys, case_path, base, heads):
    """A checkpoint in the authors' released layout (their dense backbone's keys under
    ``backbone.``, the toolbox's neck and heads, mmdet 2.x / mmseg 0.x meta) converts with the
    family's tool, loads strictly into the matching config, and the backbone gives the outputs
    of the authors' dense backbone; neck and head tensors arrive unchanged."""
    from mmengine.runner import load_checkpoint
    case = _case(case_path)
    family = case['family']
    target = _target_config(tmp_path, base, case, heads)
    heads_and_neck = {k: v.clone() for k, v in _build(target).state_dict().items()
                      if not k.startswith('backbone.')}
    released = dict(case['state_dict'], **heads_and_neck)
    toolbox = 'mmdet_version' if case['task'] == 'det' else 'mmseg_version'
    src, dst = tmp_path / 'released.pth', tmp_path / 'converted.pth'
    torch.save(dict(meta={toolbox: '2.25.0', 'CLASSES': ('a', 'b')}, state_dict=released), src)
    args = [str(src), str(dst), '--config', repr(case['config']), '--target', str(target)]
    assert converter_main(family, 'doc', args) == 0
    out = capsys.readouterr().out
    assert 'loads strictly' in out
    model = _build(target)
    unused = [k for k in released if k.startswith('backbone.extra_norms.0.')
              or k.startswith('backbone.norm0.')]
    assert ('left out' in out) == (0 not in model.backbone.out_indices and bool(unused))

    converted = torch.load(dst, map_location='cpu', weights_only=True)
    assert converted['meta']['dataset_meta']['classes'] == ('a', 'b')
    for key, value in heads_and_neck.items():
        assert torch.equal(converted['state_dict'][key], value), key
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    model.eval()
    with torch.no_grad():
        _assert_authors_outputs(model.backbone, case)

    # The released file also initialises a backbone directly (converted on the fly).
    cfg, _ = model_cfg_of(str(target))
    backbone = MODELS.build(dict(cfg.backbone, init_cfg=dict(
        type='Pretrained', checkpoint=str(src), prefix='backbone.'))).eval()
    backbone.init_weights()
    with torch.no_grad():
        _assert_authors_outputs(backbone, case)


def _assert_authors_outputs(backbone, case: dict) -> None:
    """The backbone's outputs (those of its ``out_indices``) equal the authors' dense
    backbone's within 1e-4 of each output's scale."""
    outputs = backbone(case['input'])
    expected = [case['outputs'][i] for i in backbone.out_indices]
    assert len(outputs) == len(expected)
    for ours, theirs in zip(outputs, expected):
        scale = theirs.abs().max()
        torch.testing.assert_close(ours / scale, theirs / scale, rtol=1e-4, atol=1e-4)


def _zeros(shape) -> torch.Tensor:
    """Zeros that cost one element on disk (a stride-0 view): layouts only."""
    return torch.zeros(1).expand(*shape) if len(shape) else torch.zeros(())


def _released_maskrcnn(path: Path, family: str, listing: str, norms: dict,
                       config: str) -> Path:
    """Zero weights in the layout of one of the authors' released Mask R-CNN checkpoints
    (mmdet 2.x): their dense backbone's keys - the classifier's without its head and final
    norm, plus the fresh output norms ``norms`` (key prefix -> width) - under ``backbone.``,
    and the neck and heads of mmdet's Mask R-CNN (shapes from ``config``)."""
    released = {f'backbone.{k}': _zeros(v.shape) if v.is_floating_point() else v
                for k, v in keys_listing(family, listing).items()
                if not k.startswith(('head.', 'norm.'))}
    for prefix, width in norms.items():
        released[f'backbone.{prefix}.weight'] = _zeros((width, ))
        released[f'backbone.{prefix}.bias'] = _zeros((width, ))
    model_cfg, scope = model_cfg_of(str(REPO / config))
    with DefaultScope.overwrite_default_scope(scope), torch.device('meta'):
        for key, value in MODELS.build(model_cfg).state_dict().items():
            if not key.startswith('backbone.'):
                released[key] = _zeros(value.shape)
    torch.save(dict(meta={'mmdet_version': '2.25.0'}, state_dict=released), path)
    return path


SHIPPED_MASK_RCNN = 'configs/biformer/mask-rcnn_biformer-small_fpn_1x_coco.py'


@pytest.fixture(scope='module')
def released_maskrcnn(tmp_path_factory) -> Path:
    """The authors' BiFormer-S Mask R-CNN layout (BiFormer_mm: four extra_norms)."""
    return _released_maskrcnn(
        tmp_path_factory.mktemp('released') / 'maskrcnn_1x_biformer_small.pth', 'biformer',
        'biformer_small', {f'extra_norms.{i}': 64 * 2**i for i in range(4)}, SHIPPED_MASK_RCNN)


def test_released_variant_finds_its_shipped_config(released_maskrcnn, tmp_path, capsys):
    """The released BiFormer-S Mask R-CNN layout, as a user gives it to the tool: recognised
    (model, variant), converted and checked against the shipped config, no options needed."""
    dst = tmp_path / 'converted.pth'
    assert converter_main('biformer', 'doc', [str(released_maskrcnn), str(dst)]) == 0
    out = capsys.readouterr().out
    assert "Mask R-CNN, arch 'small'" in out and SHIPPED_MASK_RCNN in out
    converted = torch.load(dst, map_location='cpu', weights_only=True)
    assert converted['meta']['out_norms'] == ['LN'] * 4
    assert 'backbone.norm0.weight' in converted['state_dict']
    assert not any('extra_norms' in k for k in converted['state_dict'])


def test_the_authors_file_name_picks_the_window_variant(tmp_path, capsys):
    """LITv2's local windows 2 and 4 give the same keys: the released file name
    (``..._ws_4.pth``) picks the ws4 config, as the saved config text would."""
    norms = {f'norm{i}': 96 * 2**i for i in (1, 2, 3)}  # the detection backbone's
    released = _released_maskrcnn(tmp_path / 'mask_rcnn_litv2_s_fpn_1x_coco.pth', 'litv2',
                                  'LITv2-S', norms,
                                  'configs/litv2/mask-rcnn_litv2-s_fpn_1x_coco.py')
    ws4 = released.with_name('mask_rcnn_litv2_s_fpn_1x_coco_ws_4.pth')
    ws4.write_bytes(released.read_bytes())
    for src, config in ((released, 'mask-rcnn_litv2-s_fpn_1x_coco'),
                        (ws4, 'mask-rcnn_litv2-s-ws4_fpn_1x_coco')):
        assert converter_main('litv2', 'doc', [str(src), str(tmp_path / 'o.pth')]) == 0
        assert f'configs/litv2/{config}.py' in capsys.readouterr().out


def _error(family: str, args, capsys) -> str:
    assert converter_main(family, 'doc', [str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {args[0]}: ') and 'Traceback' not in err
    return err


def test_another_familys_detector_is_refused_by_name(released_maskrcnn, tmp_path, capsys):
    err = _error('litv2', [released_maskrcnn, tmp_path / 'o.pth'], capsys)
    assert "not the authors' LITv2" in err
    assert 'python -m mmvitplug.converters biformer' in err
    assert not (tmp_path / 'o.pth').exists()


def test_classifier_where_a_detector_is_expected(tmp_path, capsys):
    src = tmp_path / 'biformer_tiny.pth'
    torch.save({'model': keys_listing('biformer', 'biformer_tiny')}, src)
    err = _error('biformer', [src, tmp_path / 'o.pth', '--target', REPO / SHIPPED_MASK_RCNN],
                 capsys)
    assert 'is an mmdet model' in err and 'this file is an ImageNet classifier' in err


@pytest.mark.skipif(not CASES, reason=f'no reference cases in {DATA}')
def test_backbone_settings_the_keys_cannot_show_must_match_the_config(tmp_path, capsys):
    """BiFormer's region count leaves no trace in the keys: given with --config, it must be
    the target config's (a COCO checkpoint with the ADE20K n_win would give other outputs)."""
    case = _case(DATA / 'biformer_det_tiny.pt')
    target = _target_config(tmp_path, 'configs/biformer/retinanet_biformer-small_fpn_1x_coco.py',
                            case, '')
    released = dict(case['state_dict'], **{k: v for k, v in _build(target).state_dict().items()
                                           if not k.startswith('backbone.')})
    src = tmp_path / 'released.pth'
    torch.save(dict(state_dict=released), src)
    config = dict(case['config'], n_win=8)
    err = _error('biformer', [src, tmp_path / 'o.pth', '--config', repr(config), '--target',
                              target], capsys)
    assert "n_win: the checkpoint's 8, the config's 16" in err


def test_a_classifier_checks_against_a_given_classifier_config(tmp_path, capsys):
    src = tmp_path / 'biformer_tiny.pth'
    torch.save({'model': keys_listing('biformer', 'biformer_tiny')}, src)
    tiny = REPO / 'configs/biformer/biformer-tiny_8xb128_in1k.py'
    assert converter_main('biformer', 'doc', [str(src), str(tmp_path / 'o.pth'), '--target',
                                              str(tiny)]) == 0
    assert str(tiny) in capsys.readouterr().out
    small = REPO / 'configs/biformer/biformer-small_8xb128_in1k.py'
    err = _error('biformer', [src, tmp_path / 'o.pth', '--target', small], capsys)
    assert f'does not load strictly into {small}' in err and 'missing' in err


def test_files_of_no_known_layout_get_one_clear_error(tmp_path, capsys):
    odd = tmp_path / 'odd.pth'
    torch.save({'state_dict': {'backbone.stem.weight': torch.zeros(2),
                               'neck.conv.weight': torch.zeros(2)}}, odd)
    err = _error('biformer', [odd, tmp_path / 'o.pth'], capsys)
    assert 'not of a model mmvitplug maps' in err and 'Mask R-CNN' in err
    bare = tmp_path / 'bare.pth'  # neither a classifier nor a detector of the family
    torch.save({'weight': torch.zeros(2)}, bare)
    err = _error('biformer', [bare, tmp_path / 'o.pth'], capsys)
    assert "not a checkpoint of the authors' BiFormer" in err and 'expected keys' in err


@pytest.mark.parametrize('family', ['fastervit', 'biformer', 'litv2'])
def test_every_cascade_and_upernet_config_is_a_conversion_target(family):
    """A released cascade or UPerNet checkpoint of any variant finds its config, whatever the
    config's name (headline or the toolboxes' naming scheme)."""
    tasks = {t.name: t for t in downstream.TASKS}
    for task, pattern in (('cascade-mask-rcnn', 'cascade*.py'), ('upernet', 'upernet*.py')):
        for path in sorted((REPO / 'configs' / family).glob(pattern)):
            arch, _ = downstream._backbone_settings(str(path))
            model = downstream.DownstreamModel(tasks[task], {}, (), arch, None)
            found = downstream.shipped_config(family, model)
            assert found is not None and downstream._backbone_settings(str(found))[0] == arch, (
                f'{path.name}: no shipped config found for {task} {family} arch {arch}')
