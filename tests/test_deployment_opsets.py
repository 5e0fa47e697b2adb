"""ONNX export at every opset from 11 to 17 (TorchScript exporter, dynamic batch / height /
width), checked in onnxruntime against PyTorch at sizes and batches the export did not see.

Opset 11 is where the graph must do without what later opsets added: integer Clip / Max / Min
(opset 12: onnxruntime rejects an opset-11 graph that has them) and the ONNX symbolic of
``scaled_dot_product_attention`` (opset 14). Kept lean, the backbones are the small test models
with one block per stage (the same layers, a fraction of the export time):

* the three demo UPerNets (preprocessing, backbone, UPerNet head, resize to the input) at
  opset 11;
* the backbones at opsets 12 to 17, one family per opset (every family at every opset was
  checked once, at full depth: docs/en/user_guides/deployment.md).
"""
import warnings

import pytest
import torch

from conftest import REPO
from mmvitplug.models.layers import DeformableTokenMerging
from mmvitplug.utils.deployment import build_export_target, check_onnx, export_onnx
from test_backbones import FAMILIES, NAMES, _randomise_batch_norms

pytest.importorskip('onnxruntime')

OPSETS = tuple(range(11, 18))
TOLERANCE = 1e-4
SEGMENTORS = {
    'fastervit': 'configs/demo/upernet_demo.py',
    'biformer': 'configs/demo/upernet_biformer_demo.py',
    'litv2': 'configs/demo/upernet_litv2_demo.py',
}
# Exported at 64x64, batch 1; checked at other sizes and batches (the geometry must stay
# symbolic in the graph).
EXPORT_SHAPE = (1, 64, 64)
SEGMENTOR_CHECKS = ((1, 96, 128), (2, 80, 112))
BACKBONE_CHECKS = ((2, 80, 112), )
# One family per opset from 12 by default (every family is at opset 11 in the segmentors).
DEFAULT_PAIRS = {(opset, NAMES[i % len(NAMES)]) for i, opset in enumerate(OPSETS[1:])}


def _small_backbone(family: str):
    """(class, arch, constructor kwargs) of the family's small test model, one block per
    stage."""
    cls, arch, extra, _, _ = FAMILIES[family]
    return cls, {**arch, 'depths': (1, 1, 1, 1)}, extra


def _randomise(model: torch.nn.Module) -> None:
    """BatchNorm statistics, and deformable offsets (zero-initialised) large enough to sample
    outside the map, so that the index clamping of the deformable token merging matters."""
    _randomise_batch_norms(model)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, DeformableTokenMerging):
                conv = m.conv_offset
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.2)
                conv.bias.copy_(torch.randn(conv.bias.shape, generator=gen) * 2)


def _export_and_check(module, output_names, image: bool, opset: int, checks, path) -> None:
    gen = torch.Generator().manual_seed(0)
    sample, *inputs = [torch.rand(b, 3, h, w, generator=gen) * 255 if image else
                       torch.randn(b, 3, h, w, generator=gen)
                       for b, h, w in (EXPORT_SHAPE, ) + tuple(checks)]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        export_onnx(module, str(path), sample, output_names, opset=opset)
    rows = check_onnx(str(path), module, inputs, output_names)
    assert len(rows) == len(inputs) * len(output_names)
    assert max(r.relative for r in rows) < TOLERANCE, rows


def _small_demo_config(family: str, folder) -> str:
    """The family's demo UPerNet config with the small backbone (head widths to match)."""
    cls, arch, extra = _small_backbone(family)
    widths = [info['num_chs'] for info in cls(arch=arch, **extra).feature_info]
    path = folder / f'upernet_{family}_small.py'
    path.write_text(
        f"_base_ = [{str(REPO / SEGMENTORS[family])!r}]\n"
        f"model = dict(backbone=dict(_delete_=True, type={cls.__name__!r}, arch={arch!r}, "
        f"**{extra!r}), decode_head=dict(in_channels={widths!r}), "
        f"auxiliary_head=dict(in_channels={widths[2]}))\n")
    return str(path)


@pytest.mark.parametrize('family', NAMES)
def test_segmentor_at_opset_11(family, tmp_path):
    """The demo UPerNet (random weights; image in, per-pixel logits out) exports at opset 11
    and matches PyTorch in onnxruntime."""
    torch.manual_seed(0)
    target = build_export_target(_small_demo_config(family, tmp_path))
    _randomise(target.module)
    _export_and_check(target.module, target.output_names, True, 11, SEGMENTOR_CHECKS,
                      tmp_path / 'segmentor.onnx')


@pytest.mark.parametrize('opset,family', sorted(DEFAULT_PAIRS))
def test_backbone_at_every_opset(opset, family, tmp_path):
    """The backbone exports at ``opset`` and matches PyTorch in onnxruntime, all outputs."""
    torch.manual_seed(0)
    cls, arch, extra = _small_backbone(family)
    model = cls(arch=arch, **extra).eval()
    _randomise(model)
    _export_and_check(model, [f'out{i}' for i in range(4)], False, opset, BACKBONE_CHECKS,
                      tmp_path / 'backbone.onnx')
