"""A whole detector of the authors' mmdet 3.x port of LITv2 through mmvitplug.

tests/data/downstream/whole/ holds detectors built in mmdet 3.3 with the authors' own backbone
class (ziplab/LITv2 @7501c86, ``detection/mmdet/models/backbones/litv2.py``, registered in mmdet's
MODELS) and mmdet's neck and head, with seeded random weights, made by
``tools/reference/make_downstream_references.py --whole`` (see the folder's README). Their
state_dict, saved as an mmdet 3.x checkpoint, converts with the family's tool, loads strictly
into the shipped config with the case's sizes, and the whole model's raw outputs
(``model._forward``) equal the authors' detector's.
"""
from pathlib import Path

import pytest
import torch

from conftest import REPO
from mmvitplug.converters import CONVERTERS
from mmvitplug.converters.cli import main as converter_main
from test_downstream import _build, _case

DATA = REPO / 'tests' / 'data' / 'downstream' / 'whole'
CASES = sorted(DATA.glob('*.pt'))
#: the authors' detector -> the shipped config of the same recipe
SHIPPED = {'RetinaNet': 'configs/litv2/retinanet_litv2-s_fpn_1x_coco.py'}
#: the case fields compared: backbone outputs, FPN outputs, the head's raw outputs per level
COMPARED = ('outputs', 'neck_outputs', 'cls_scores', 'bbox_preds')
#: largest difference allowed, relative to the largest absolute value of each tensor
REL_TOL = 1e-4


def _target_config(tmp_path: Path, case: dict) -> Path:
    """The shipped config of the case's detector with the case's tiny backbone (its arch from the
    authors' kwargs through the converter) and the case's neck and head sizes.

    The shipped RetinaNet takes backbone ``out_indices=(1, 2, 3)`` and an FPN with
    ``start_level=0`` over those three maps: the same FPN as the authors' four inputs with
    ``start_level=1``, so its ``in_channels`` are the authors' from ``start_level`` on."""
    backbone, _ = CONVERTERS[case['family']].backbone_cfg(case['config'], dense=True)
    neck = dict(case['size_overrides']['neck'])
    start = case['model_overrides']['neck']['start_level']
    neck['in_channels'] = neck['in_channels'][start:]
    path = tmp_path / f'target_{case["case"]}.py'
    path.write_text(
        f"_base_ = [{str(REPO / SHIPPED[case['detector']])!r}]\n"
        f"model = dict(backbone=dict(arch=dict(_delete_=True, **{backbone['arch']!r})), "
        f"neck=dict(**{neck!r}), bbox_head=dict(**{case['size_overrides']['bbox_head']!r}))\n")
    return path


def _released_mmdet3(path: Path, case: dict) -> Path:
    """The case's whole state_dict as an mmdet 3.x checkpoint holds it."""
    classes = tuple(f'class{i}' for i in range(case['model_overrides']['bbox_head']['num_classes']))
    torch.save(dict(meta=dict(mmdet_version='3.3.0', dataset_meta=dict(classes=classes)),
                    state_dict=case['state_dict']), path)
    return path


def _run(model, x: torch.Tensor) -> dict:
    """``model._forward(x)`` and the backbone's and neck's outputs in that same call."""
    seen = {}
    handles = [getattr(model, part).register_forward_hook(
        lambda m, a, out, part=part: seen.__setitem__(part, out)) for part in ('backbone', 'neck')]
    try:
        with torch.no_grad():
            cls_scores, bbox_preds = model._forward(x)
    finally:
        for handle in handles:
            handle.remove()
    return {'outputs': list(seen['backbone']), 'neck_outputs': list(seen['neck']),
            'cls_scores': list(cls_scores), 'bbox_preds': list(bbox_preds)}


def relative_differences(ours: dict, case: dict, out_indices) -> dict:
    """Per compared field, per tensor: max |ours - authors'| / max |authors'|."""
    found = {}
    for field in COMPARED:
        theirs = case[field]
        if field == 'outputs':  # the authors' backbone returns all four stages
            theirs = [theirs[i] for i in out_indices]
        assert len(ours[field]) == len(theirs), field
        found[field] = []
        for level, (a, b) in enumerate(zip(ours[field], theirs)):
            assert a.shape == b.shape, f'{field}[{level}]: {tuple(a.shape)} vs {tuple(b.shape)}'
            found[field].append(((a - b).abs().max() / b.abs().max()).item())
    return found


@pytest.mark.skipif(not CASES, reason=f'no whole-detector cases in {DATA}')
@pytest.mark.parametrize('case_path', CASES, ids=[p.stem for p in CASES])
def test_authors_mmdet3_detector_converts_and_gives_their_raw_outputs(tmp_path, capsys,
                                                                       case_path):
    from mmengine.runner import load_checkpoint
    case = _case(case_path)
    assert case['official_commit'].startswith('7501c86')
    assert case['backbone_module'].startswith('authors_litv2_head.')  # their class, not ours
    target = _target_config(tmp_path, case)

    # The shipped recipe's neck and head are the authors' (but for the FPN's input convention).
    from mmvitplug.converters.downstream import model_cfg_of
    cfg, _ = model_cfg_of(str(target))
    theirs_neck = dict(case['model_overrides']['neck'])
    start = theirs_neck.pop('start_level')
    theirs_neck['in_channels'] = theirs_neck['in_channels'][start:]
    ours_neck = cfg.neck.to_dict()
    assert ours_neck.pop('start_level') == 0
    assert tuple(cfg.backbone.out_indices) == tuple(range(start, 4))
    assert {k: v for k, v in ours_neck.items() if k in theirs_neck} == theirs_neck
    assert set(ours_neck) <= set(theirs_neck), set(ours_neck) - set(theirs_neck)
    theirs_head = case['model_overrides']['bbox_head']
    ours_head = {k: v for k, v in cfg.bbox_head.to_dict().items()
                 if k not in ('train_cfg', 'test_cfg')}
    assert _plain(ours_head) == theirs_head

    src = _released_mmdet3(tmp_path / 'released.pth', case)
    dst = tmp_path / 'converted.pth'
    args = [str(src), str(dst), '--config', repr(case['config']), '--target', str(target)]
    assert converter_main(case['family'], 'doc', args) == 0
    out = capsys.readouterr().out
    assert 'RetinaNet' in out and 'loads strictly' in out

    converted = torch.load(dst, map_location='cpu', weights_only=True)
    assert len(converted['meta']['dataset_meta']['classes']) == theirs_head['num_classes']
    for key, value in case['state_dict'].items():
        if not key.startswith('backbone.'):
            assert torch.equal(converted['state_dict'][key], value), key
    model = _build(target)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    model.eval()
    ours = _run(model, case['input'])
    found = relative_differences(ours, case, model.backbone.out_indices)
    worst = {field: max(values) for field, values in found.items()}
    assert all(v <= REL_TOL for v in worst.values()), (
        f'relative differences (of each tensor\'s absmax) over {REL_TOL}: {found}')


def _plain(obj):
    """A config dict as plain Python (tuples as lists), as the case stores it."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
