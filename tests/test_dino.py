"""FasterViT's released DINO detector through mmdet's DINO: the converter of the authors' DINO
checkpoints (IDEA-Research's layout), the configs, and equality with the authors' own DINO on
the same weights - module by module and for the final detections (tests/data/downstream, made
by tools/reference/make_dino_reference.py)."""
import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from conftest import REPO
from mmvitplug.converters import CONVERTERS, dino, downstream
from mmvitplug.converters.cli import main as converter_main
from mmvitplug.models import FasterViT
from mmvitplug.registry import MODELS

DATA = REPO / 'tests' / 'data' / 'downstream' / 'dino'
RELEASED = REPO / 'configs' / 'fastervit' / 'dino-4scale_fastervit-4-21k-224_8xb2-12e_coco.py'
COCO_IDS = list(dino.COCO_CATEGORY_IDS)


@pytest.fixture(scope='module')
def case():
    return torch.load(DATA / 'fastervit_dino_tiny.pt', map_location='cpu', weights_only=True)


def _tiny_target(case, path: Path, num_classes: int = 80) -> Path:
    """The released config with the case's (smaller) sizes."""
    b, d = case['backbone_config'], case['dino_config']
    attn = dict(num_heads=d['nheads'], num_points=d['enc_n_points'])
    ffn = dict(feedforward_channels=d['dim_feedforward'])
    path.write_text(f"""_base_ = [{str(RELEASED)!r}]
model = dict(
    num_queries={d['num_queries']},
    backbone=dict(arch=dict(_delete_=True, embed_dims={b['dim']}, in_dim={b['in_dim']},
                            depths={tuple(b['depths'])}, num_heads={tuple(b['num_heads'])},
                            window_size={tuple(b['window_size'])}, hat=False,
                            layer_scale={b['layer_scale']}),
                  init_cfg=None),
    neck=dict(in_channels={[b['dim'] * 2**i for i in b['out_indices']]}),
    encoder=dict(num_layers={d['enc_layers']},
                 layer_cfg=dict(self_attn_cfg={attn}, ffn_cfg={ffn})),
    decoder=dict(num_layers={d['dec_layers']},
                 layer_cfg=dict(self_attn_cfg=dict(num_heads={d['nheads']}),
                                cross_attn_cfg={attn}, ffn_cfg={ffn})),
    bbox_head=dict(num_classes={num_classes}))
""")
    return path


def _authors_file(case, path: Path, extra=None) -> Path:
    """The case's weights (float32) as the authors' main.py saves them: beside the weights,
    the epoch and the command-line arguments (an ``argparse.Namespace``, which safe loading
    accepts here)."""
    model = {k: v.float() if v.is_floating_point() else v
             for k, v in case['checkpoint']['model'].items()}
    model.update(extra or {})
    torch.save({'model': model, 'epoch': 11, 'args': argparse.Namespace(**case['dino_config'])},
               path)
    return path


@pytest.fixture(scope='module')
def converted(case, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('dino')
    target = _tiny_target(case, tmp / 'tiny_dino.py')
    dst = tmp / 'converted.pth'
    assert converter_main('fastervit', __doc__,
                          [str(_authors_file(case, tmp / 'authors.pth')), str(dst),
                           '--target', str(target)]) == 0
    return target, dst


@pytest.fixture(scope='module')
def model(converted):
    target, dst = converted
    cfg = Config.fromfile(str(target))
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    model.load_state_dict(ckpt['state_dict'], strict=True)
    return model.eval()


def _close(ours, theirs, what, tol=1e-4):
    """Within ``tol`` of the authors' values, relative to their largest magnitude."""
    scale = float(theirs.abs().max())
    diff = float((ours - theirs).abs().max())
    assert diff <= tol * max(scale, 1.0), f'{what}: max diff {diff:.3g} (scale {scale:.3g})'


def _data_sample(x):
    from mmdet.structures import DetDataSample
    h, w = x.shape[2:]
    return DetDataSample(metainfo=dict(img_shape=(h, w), batch_input_shape=(h, w),
                                       pad_shape=(h, w), ori_shape=(h, w),
                                       scale_factor=(1.0, 1.0)))


def test_converted_file_names_coco_classes_and_loads_safely(converted):
    ckpt = torch.load(converted[1], map_location='cpu', weights_only=True)
    meta = ckpt['meta']
    assert meta['model'] == 'DINO' and meta['out_norms'] == [None, 'BN', 'BN', 'BN']
    assert len(meta['dataset_meta']['classes']) == 80
    assert meta['dataset_meta']['classes'][0] == 'person'
    assert 'warnings' not in meta  # no carrier tokens: the released kind of backbone


def test_equal_to_the_authors_dino_module_by_module(case, model):
    """Backbone, input projections, encoder, decoder and head give the authors' tensors on the
    same weights (their 91 category-id rows -> mmdet's 80 classes)."""
    out, x = case['outputs'], case['input']
    sample = _data_sample(x)
    with torch.no_grad():
        feats = model.backbone(x)
        for i, (a, b) in enumerate(zip(feats, out['backbone'])):
            _close(a, b, f'backbone output {i}')
        srcs = model.neck(feats)
        for i, (a, b) in enumerate(zip(srcs, out['srcs'])):
            _close(a, b, f'input projection {i}')
        encoder_inputs, _ = model.pre_transformer(srcs, [sample])
        _close(model.forward_encoder(**encoder_inputs)['memory'], out['memory'], 'memory')
        head_inputs = model.forward_transformer(srcs, [sample])
        _close(head_inputs['hidden_states'], out['hidden_states'], 'decoder states')
        references = torch.stack(list(head_inputs['references']))
        _close(references, out['references'], 'reference boxes')
        # the encoder's selected proposals are the decoder's first references
        _close(references[0], out['enc_boxes'], 'selected proposals')
        logits, boxes = model.bbox_head(head_inputs['hidden_states'], head_inputs['references'])
    _close(logits[-1], out['pred_logits'][..., COCO_IDS], 'final logits')
    _close(boxes[-1], out['pred_boxes'], 'final boxes')
    _close(logits[:-1], out['aux_logits'][..., COCO_IDS], 'per-layer logits')
    _close(boxes[:-1], out['aux_boxes'], 'per-layer boxes')


def test_detections_equal_the_authors_postprocess(case, model):
    """mmdet's top-300 detections are the authors' PostProcess ones: same labels (category ids
    -> classes) and scores; boxes equal once theirs are clipped to the image, which mmdet does
    and IDEA's PostProcess does not."""
    x = case['input']
    h, w = x.shape[2:]
    with torch.no_grad():
        pred = model.predict(x, [_data_sample(x)])[0].pred_instances
    theirs = case['outputs']['detections']
    assert [COCO_IDS[int(i)] for i in pred.labels] == theirs['labels'].tolist()
    torch.testing.assert_close(pred.scores, theirs['scores'], rtol=0, atol=1e-4)
    clipped = theirs['boxes'].clone()
    clipped[:, 0::2] = clipped[:, 0::2].clamp(0, w)
    clipped[:, 1::2] = clipped[:, 1::2].clamp(0, h)
    torch.testing.assert_close(pred.bboxes, clipped, rtol=0, atol=1e-3 * max(h, w))


def test_the_released_layout_converts_into_the_released_config():
    """Every key of the released DINO_4scale_faster_vit_4_21k_224 (shapes from the authors'
    model built at full size) has its place in the shipped config, found from the keys."""
    layout = json.loads((DATA / 'fastervit_dino_4_21k_224_layout.json').read_text())
    state_dict = {k: torch.empty(s, device='meta') for k, s in layout['shapes'].items()}
    assert dino.is_idea_dino(state_dict)
    model = dino.convert_idea_dino(CONVERTERS['fastervit'], state_dict)
    assert model.arch == '4_21k_224' and model.out_norms == (None, 'BN', 'BN', 'BN')
    assert downstream.shipped_config('fastervit', model) == RELEASED
    target = downstream.target_of(str(RELEASED))
    fitted, mapped = dino.fit_classes(model.state_dict, target.shapes)
    assert mapped
    assert downstream.mismatches(target.shapes, fitted) == []
    # the backbone settings the released config gives are the authors' dense ones
    assert target.backbone_settings['window_padding'] == 'zeros'
    assert target.backbone_settings['grid_scale'] == 'tokens'


def test_converter_refuses_what_it_cannot_place(case, tmp_path):
    target = _tiny_target(case, tmp_path / 'tiny_dino.py')
    odd = _authors_file(case, tmp_path / 'odd.pth',
                        {'transformer.patterns.weight': torch.zeros(1, 256)})
    assert converter_main('fastervit', '', [str(odd), str(tmp_path / 'o.pth'),
                                            '--target', str(target)]) == 2
    authors = _authors_file(case, tmp_path / 'authors.pth')
    assert converter_main('biformer', '', [str(authors), str(tmp_path / 'b.pth')]) == 2
    ten = _tiny_target(case, tmp_path / 'ten.py', num_classes=10)
    assert converter_main('fastervit', '', [str(authors), str(tmp_path / 't.pth'),
                                            '--target', str(ten)]) == 2
    assert not any((tmp_path / n).exists() for n in ('o.pth', 'b.pth', 't.pth'))


def test_converter_errors_name_the_problem(case, tmp_path):
    target = _tiny_target(case, tmp_path / 'tiny_dino.py')
    sd = {k: v.float() if v.is_floating_point() else v
          for k, v in case['checkpoint']['model'].items()}
    with pytest.raises(ValueError, match='transformer.patterns.weight'):
        dino.convert_idea_dino(CONVERTERS['fastervit'],
                               dict(sd, **{'transformer.patterns.weight': torch.zeros(1, 256)}))
    with pytest.raises(ValueError, match="not the authors' BiFormer.*FasterViT"):
        dino.convert_idea_dino(CONVERTERS['biformer'], sd)
    expected = downstream.target_of(str(_tiny_target(case, tmp_path / 'ten.py', 10))).shapes
    with pytest.raises(ValueError, match='91 class rows.*head 10'):
        dino.fit_classes(dino.convert_idea_dino(CONVERTERS['fastervit'], sd).state_dict,
                         expected)
    broken = dict(sd)
    broken['transformer.decoder.class_embed.0.bias'] = torch.zeros_like(sd['class_embed.0.bias'])
    with pytest.raises(ValueError, match='not a copy of class_embed.0.bias'):
        dino.convert_idea_dino(CONVERTERS['fastervit'], broken)
    assert target.exists()


def test_carrier_tokens_are_flagged():
    """A DINO backbone with carrier tokens (the authors' other variants) converts with a
    warning: their DINO code computes carriers unlike the classifier."""
    converter = CONVERTERS['fastervit']
    assert dino.carrier_token_warning(converter, {'backbone.0.levels.2.blocks.0.conv1.w': 0}) \
        is None
    warning = dino.carrier_token_warning(
        converter, {'backbone.0.levels.2.blocks.0.hat_attn.qkv.weight': 0})
    assert 'carrier tokens' in warning and 'will not reproduce' in warning


def test_window_padding_and_grid_scale():
    """'zeros' padding equals 'masked' where no stage pads and differs where one does; the
    'tokens' grid scales both axes by half the window's token count."""
    from mmvitplug.models.layers.position import centred_grid
    torch.manual_seed(0)
    masked = FasterViT('0', out_indices=(1, 2, 3)).eval()
    zeros = FasterViT('0', out_indices=(1, 2, 3), window_padding='zeros').eval()
    zeros.load_state_dict(masked.state_dict())
    with torch.no_grad():
        x = torch.randn(1, 3, 224, 224)  # maps 56/28/14/7: whole windows
        for a, b in zip(masked(x), zeros(x)):
            torch.testing.assert_close(a, b)
        x = torch.randn(1, 3, 200, 232)
        assert any((a - b).abs().max() > 1e-3 for a, b in zip(masked(x), zeros(x)))
    grid = centred_grid(3, 4, scale='tokens')
    torch.testing.assert_close(grid[-1], torch.tensor([(2 - 6) / 6, (3 - 6) / 6]))
    torch.testing.assert_close(centred_grid(3, 4)[-1], torch.tensor([1 / 1, 1 / 2]))
    with pytest.raises(ValueError, match='window_padding must be one of'):
        FasterViT('0', window_padding='zero')
    with pytest.raises(ValueError, match='grid_scale must be one of'):
        FasterViT('0', grid_scale='token')


DINO_CONFIGS = sorted((REPO / 'configs' / 'fastervit').glob('dino-4scale_*.py'))


@pytest.mark.parametrize('path', DINO_CONFIGS, ids=lambda p: p.stem)
def test_dino_configs_follow_the_authors(path):
    cfg = Config.fromfile(str(path))
    backbone = cfg.model.backbone
    assert backbone.out_norms == 'BN' and backbone.drop_path_rate == 0.1
    assert not backbone.do_propagation
    assert (backbone.window_padding, backbone.grid_scale) == ('zeros', 'tokens')
    assert cfg.model.neck.bias is True and cfg.model.dn_cfg.box_noise_scale == 0.4
    assert backbone.init_cfg.checkpoint.startswith('https://huggingface.co/ahatamiz/FasterViT/')
    with DefaultScope.overwrite_default_scope('mmdet'), torch.device('meta'):
        model = MODELS.build(cfg.model)
    widths = [model.backbone.feature_info[i]['num_chs'] for i in backbone.out_indices]
    assert list(cfg.model.neck.in_channels) == widths


def test_the_released_config_serves_the_inference_apis():
    """init_detector / inference_detector on the released model's config (untrained weights,
    a test scale that still gives DINO its 900 proposals)."""
    from mmdet.apis import inference_detector, init_detector
    cfg = Config.fromfile(str(RELEASED))
    for step in cfg.test_dataloader.dataset.pipeline:
        if step.type == 'Resize':
            step.scale = (320, 256)
    cfg.model.backbone.init_cfg = None  # no download: initialised in place below
    torch.manual_seed(0)
    model = init_detector(cfg, None, device='cpu')
    model.init_weights()  # init_detector leaves DINO's level embedding uninitialised
    img = (np.random.default_rng(0).random((240, 300, 3)) * 255).astype(np.uint8)
    pred = inference_detector(model, img).pred_instances
    assert pred.bboxes.shape == (300, 4) and len(pred.scores) == len(pred.labels) == 300
    assert torch.isfinite(pred.bboxes).all() and torch.isfinite(pred.scores).all()
    assert float(pred.bboxes[:, 2].max()) <= 300 and float(pred.bboxes[:, 3].max()) <= 240


def test_pretrained_init_reads_the_backbone_of_the_authors_dino(case, tmp_path):
    """``init_cfg=dict(type='Pretrained', checkpoint=<the authors' DINO file>,
    prefix='backbone.')`` initialises the backbone from the released detector directly."""
    b = case['backbone_config']
    backbone = FasterViT(
        dict(embed_dims=b['dim'], in_dim=b['in_dim'], depths=tuple(b['depths']),
             num_heads=tuple(b['num_heads']), window_size=tuple(b['window_size']), hat=False,
             layer_scale=b['layer_scale']),
        out_indices=(1, 2, 3), out_norms='BN', window_padding='zeros', grid_scale='tokens',
        init_cfg=dict(type='Pretrained', checkpoint=str(_authors_file(case, tmp_path / 'a.pth')),
                      prefix='backbone.'))
    backbone.init_weights()
    backbone.eval()
    with torch.no_grad():
        for ours, theirs in zip(backbone(case['input']), case['outputs']['backbone']):
            _close(ours, theirs, 'backbone output')
