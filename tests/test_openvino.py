"""OpenVINO as a second CPU runtime of the exported graphs (mmvitplug.utils.runtimes): a backbone
(FasterViT-0) and a whole segmentor (the demo UPerNet, image in, logits out), both exported with
dynamic batch / height / width by the TorchScript exporter and run in OpenVINO at sizes and
batches other than the export's, equal PyTorch; onnxruntime and OpenVINO agree through the same
``load_onnx`` interface; a wrong runtime name or a missing runtime is reported clearly.

Tolerance: relative ``max |out - ref| / max |ref|`` below 1e-4, the bound of the onnxruntime
checks (tests/test_deployment.py). Measured here (OpenVINO 2026.4.1 with the float32 precision
hint, onnxruntime 1.32, a 2-core x86 CPU without AMX, these random-weight models): OpenVINO vs
PyTorch 1.0e-6 for the backbone (out3 at 160x224), 4.3e-6 for the segmentor's logits (batch 2 at
111x150), onnxruntime vs OpenVINO 2.4e-6; 1e-4 leaves 20x room for other CPUs' kernels and still
fails a bfloat16 graph (8 mantissa bits: errors of order 1e-3 to 1e-2).
"""
import sys
from typing import Callable, Dict, NamedTuple

import numpy as np
import pytest
import torch

from conftest import REPO
from mmvitplug.utils.deployment import (ExportTarget, build_export_target, export_onnx,
                                        relative_difference)
from mmvitplug.utils.runtimes import RUNTIMES, load_onnx

TOLERANCE = 1e-4
# Sizes and batches not used at export (export: batch 1 at 128x160): one non-multiple of the
# windows / regions (padding inside) and a batch of two.
BACKBONE_INPUTS = [(1, 3, 160, 224), (2, 3, 97, 131)]
SEGMENTOR_INPUTS = [(1, 3, 160, 128), (2, 3, 111, 150)]


class Exported(NamedTuple):
    export: ExportTarget  # the PyTorch module (eval) and its output names
    path: str
    runners: Dict[str, Callable]  # runtime -> load_onnx(path, runtime), each compiled once


def _export(target: str, tmp_path_factory, name: str) -> Exported:
    torch.manual_seed(0)
    export = build_export_target(target)
    path = str(tmp_path_factory.mktemp('openvino') / f'{name}.onnx')
    sample = torch.randn(1, export.in_channels, 128, 160)
    export_onnx(export.module, path, sample, export.output_names, dynamic=True)
    # Loading is most of the cost after the export (OpenVINO compiles the ~8k-node dynamic
    # graph of FasterViT-0 in several seconds): once per runtime for all tests.
    return Exported(export, path, {rt: load_onnx(path, rt) for rt in RUNTIMES})


@pytest.fixture(scope='module')
def backbone(tmp_path_factory):
    """FasterViT-0 (random weights), exported once."""
    return _export('FasterViT-0', tmp_path_factory, 'fastervit0')


@pytest.fixture(scope='module')
def segmentor(tmp_path_factory):
    """The demo UPerNet with FasterViT-0 (random weights): image (0-255) in, logits out."""
    return _export(str(REPO / 'configs/demo/upernet_demo.py'), tmp_path_factory, 'upernet')


def _inputs(shapes, image: bool):
    gen = torch.Generator().manual_seed(1)
    return [torch.rand(s, generator=gen) * 255 if image else torch.randn(s, generator=gen)
            for s in shapes]


def _compare(model: Exported, inputs, runtime='openvino'):
    """Relative difference of ``runtime`` from PyTorch per input and output (shapes must
    match)."""
    names = model.export.output_names
    rows = []
    for x in inputs:
        with torch.no_grad():
            ref = model.export.module(x)
        ref = ref if isinstance(ref, (tuple, list)) else (ref, )
        got = model.runners[runtime](x.numpy())
        assert len(got) == len(ref) == len(names)
        for name, value, expected in zip(names, got, ref):
            assert value.dtype == np.float32, (name, value.dtype)
            assert value.shape == tuple(expected.shape), (name, value.shape, expected.shape)
            rows.append((tuple(x.shape), name,
                         relative_difference(torch.from_numpy(value), expected)))
    return rows


def test_backbone_in_openvino_equals_pytorch(backbone):
    rows = _compare(backbone, _inputs(BACKBONE_INPUTS, image=False))
    assert len(rows) == 8 and max(r[2] for r in rows) < TOLERANCE, rows


def test_segmentor_in_openvino_equals_pytorch(segmentor):
    rows = _compare(segmentor, _inputs(SEGMENTOR_INPUTS, image=True))
    assert [r[1] for r in rows] == ['seg_logits'] * 2
    assert max(r[2] for r in rows) < TOLERANCE, rows


def test_onnxruntime_and_openvino_agree(backbone, segmentor):
    """The same file, the same call, in both runtimes."""
    for model, image in ((backbone, False), (segmentor, True)):
        x = _inputs([(1, 3, 96, 128)], image)[0].numpy()
        ort, ov = (model.runners[rt](x) for rt in RUNTIMES)
        assert len(ort) == len(ov) == len(model.export.output_names)
        for a, b in zip(ort, ov):
            assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
            assert relative_difference(torch.from_numpy(b), torch.from_numpy(a)) < TOLERANCE


def test_runtime_errors(backbone, monkeypatch):
    with pytest.raises(ValueError, match="'onnxruntime', 'openvino'.*'tensorrt'"):
        load_onnx(backbone.path, 'tensorrt')
    for runner in backbone.runners.values():
        with pytest.raises(ValueError, match='takes 1 input'):
            runner()
    with pytest.raises(FileNotFoundError):
        load_onnx(backbone.path + '.missing', 'openvino')
    monkeypatch.setitem(sys.modules, 'openvino', None)  # `import openvino` now fails
    with pytest.raises(ImportError, match=r"pip install 'mmvitplug\[deploy\]'"):
        load_onnx(backbone.path, 'openvino')
