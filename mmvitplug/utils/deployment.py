"""ONNX export of a backbone, a whole segmentor or a whole detector with dynamic sizes, and its
check in onnxruntime (the logic of the repository's ``tools/deployment/pytorch2onnx.py``).

Exported graphs:

* a backbone (a name of :data:`~mmvitplug.utils.named_models.NAMED_BACKBONES`, or the backbone
  of a detection / classification config): image ``(N, C, H, W)`` in, the backbone's output
  maps out (``out0`` ... ``out3``);
* an mmseg segmentor (a segmentation config): the image as mmseg's pipeline loads it (float,
  0-255, in the channel order of the config's data preprocessor) in, per-pixel class logits
  ``(N, num_classes, H, W)`` out: the preprocessor's channel flip and normalisation, backbone,
  neck, decode head and the bilinear resize to the input size, as mmseg's inference computes its
  ``seg_logits``;
* an mmdet detector (a detection config): :class:`~mmvitplug.utils.detection_graph.
  DetectionGraph`, the preprocessed image ``(1, 3, H, W)`` in, ``dets``, ``labels`` (and
  ``masks``) out, with standard ONNX operators only; height, width and the number of
  detections are dynamic.

Layers that ONNX cannot express with a symbolic input size are swapped for exact equivalents
before export: adaptive average pooling (UPerNet's pyramid pooling) becomes averaging matrices.
"""
import time
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmvitplug.models.layers.geometry import averaging_matrix, ceil_div
from mmvitplug.utils.named_models import NamedBackbones, build_target

__all__ = ['AdaptiveAvgPool2dByMatrices', 'ExportTarget', 'SegmentorLogits', 'build_export_target',
           'check_inputs', 'check_onnx', 'check_shapes', 'export_onnx', 'image_axes',
           'make_exportable', 'preprocessor_steps',
           'relative_difference']


def relative_difference(out: torch.Tensor, ref: torch.Tensor) -> float:
    """``max |out - ref| / max |ref|`` in float32: how far an exported, compiled or
    reduced-precision output is from the float32 eager one."""
    out, ref = out.float(), ref.float()
    return (out - ref).abs().max().item() / max(ref.abs().max().item(), 1e-12)


class AdaptiveAvgPool2dByMatrices(nn.Module):
    """``nn.AdaptiveAvgPool2d(output_size)`` as two averaging-matrix products: the same bins
    (``floor(i * L / n)`` to ``ceil((i + 1) * L / n)``), with the input size symbolic in a
    traced graph (ONNX's pooling needs a constant kernel)."""

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = ((output_size, output_size) if isinstance(output_size, int) else
                            tuple(output_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mats = []
        for n, length in zip(self.output_size, x.shape[-2:]):
            n = length if n is None else n
            i = torch.arange(n, device=x.device)
            mats.append(averaging_matrix(length, (i * length) // n,
                                         ceil_div((i + 1) * length, n), x.dtype))
        return torch.matmul(torch.matmul(mats[0], x), mats[1].transpose(0, 1))


def make_exportable(model: nn.Module) -> nn.Module:
    """Swap, in place, the modules ONNX cannot export with symbolic sizes for equivalents
    (see the module docstring); returns ``model``."""
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.AdaptiveAvgPool2d):
            parent = model.get_submodule(name.rpartition('.')[0]) if '.' in name else model
            setattr(parent, name.rpartition('.')[2], AdaptiveAvgPool2dByMatrices(
                module.output_size))
    return model


def preprocessor_steps(pre: nn.Module) -> Tuple[bool, bool]:
    """Whether a data preprocessor flips the channels and normalises: mmseg's
    ``SegDataPreprocessor`` names the flip ``channel_conversion``, mmengine's
    ``ImgDataPreprocessor`` (mmdet's base) ``_channel_conversion``."""
    flip = getattr(pre, 'channel_conversion', getattr(pre, '_channel_conversion', False))
    return bool(flip), bool(getattr(pre, '_enable_normalize', False))


class SegmentorLogits(nn.Module):
    """An mmseg ``EncoderDecoder``'s inference as one tensor function: image in, per-pixel class
    logits at the image size out (mmseg's ``seg_logits`` before the argmax).

    Args:
        segmentor: the mmseg segmentor (eval mode).
    """

    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__()
        self.segmentor = segmentor
        pre = segmentor.data_preprocessor
        self.flip_channels, self.normalize = preprocessor_steps(pre)
        if self.normalize:
            self.register_buffer('mean', pre.mean.detach().clone(), persistent=False)
            self.register_buffer('std', pre.std.detach().clone(), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.flip(1) if self.flip_channels else image
        if self.normalize:
            x = (x - self.mean) / self.std
        head = self.segmentor.decode_head
        logits = head(self.segmentor.extract_feat(x))
        return F.interpolate(logits, size=image.shape[2:], mode='bilinear',
                             align_corners=head.align_corners)


class ExportTarget(NamedTuple):
    """What to export: the module (eval mode), a description, its input channels, the names of
    its outputs and what it is (``'backbone'``, ``'segmentor'`` or ``'detector'``)."""
    module: nn.Module
    description: str
    in_channels: int
    output_names: List[str]
    kind: str = 'backbone'

    def dynamic_axes(self, dynamic: bool = True) -> Optional[Dict[str, Dict[int, str]]]:
        """``torch.onnx.export``'s ``dynamic_axes``: with ``dynamic``, batch, height and width of
        the input and of each output map. A detector takes one image and gives a variable
        number of detections, whatever ``dynamic`` says about the image size."""
        if self.kind != 'detector':
            return image_axes(self.output_names) if dynamic else None
        size = {2: 'height', 3: 'width'} if dynamic else {}
        axes = {'input': size, 'dets': {1: 'detections'}, 'labels': {1: 'detections'}}
        if 'masks' in self.output_names:
            axes['masks'] = {1: 'detections', **size}
        return axes


def image_axes(output_names: Sequence[str]) -> Dict[str, Dict[int, str]]:
    """Dynamic batch, height and width of an image input and of each output map."""
    axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
    axes.update({n: {0: 'batch', 2: f'{n}_height', 3: f'{n}_width'} for n in output_names})
    return axes


def build_export_target(target: str, checkpoint: Optional[str] = None,
                        named: Optional[NamedBackbones] = None,
                        backbone_only: bool = False) -> ExportTarget:
    """The module exported for a backbone name (of ``named``, default
    :data:`~mmvitplug.utils.named_models.NAMED_BACKBONES`) or a config file (see the module
    docstring); ``backbone_only`` exports a detection config's backbone alone.

    Raises:
        ValueError: ``target`` is neither a config file nor a named backbone, or its detector
            cannot be expressed with standard ONNX operators (the message says what can).
    """
    built = build_target(target, named)
    model, cfg = built.model, built.cfg
    if checkpoint is not None:
        from mmengine.runner import load_checkpoint

        from .checkpoint import runner_checkpoints_allowed
        with runner_checkpoints_allowed():  # a runner checkpoint of the config, typically
            load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    in_channels = getattr(getattr(model, 'backbone', model), 'in_channels', 3)
    if cfg is not None and built.scope == 'mmseg':
        module = SegmentorLogits(model)
        return ExportTarget(make_exportable(module).eval(), f'{target}: mmseg segmentor '
                            '(image -> per-pixel class logits)', in_channels, ['seg_logits'],
                            'segmentor')
    if cfg is not None and built.scope == 'mmdet' and not backbone_only:
        from .detection_graph import DetectionGraph
        module = DetectionGraph(make_exportable(model))
        return ExportTarget(module.eval(), f'{target}: mmdet {type(model).__name__} '
                            f'(preprocessed image -> {", ".join(module.output_names)})',
                            in_channels, module.output_names, 'detector')
    backbone = model.backbone if cfg is not None else model
    what = (f'{target}: the backbone of the {built.scope} model' if cfg is not None else
            f'{target}: backbone')
    outputs = len(getattr(backbone, 'out_indices', range(4)))
    return ExportTarget(make_exportable(backbone).eval(), what,
                        getattr(backbone, 'in_channels', 3),
                        [f'out{i}' for i in range(outputs)])


def export_onnx(module: nn.Module, path: str, sample: torch.Tensor, output_names: Sequence[str],
                dynamic: bool = True, exporter: str = 'torchscript', opset: int = 17,
                axes: Optional[Dict[str, Dict[int, str]]] = None) -> float:
    """Export ``module(sample)`` to ``path`` (batch, height and width dynamic with
    ``dynamic``, or the given ``axes``: :meth:`ExportTarget.dynamic_axes`); ``exporter`` is
    ``'torchscript'`` (``torch.onnx.export(dynamo=False)``) or ``'dynamo'``
    (``torch.export``-based). Returns the seconds it took."""
    if exporter not in ('torchscript', 'dynamo'):
        raise ValueError(f"exporter must be 'torchscript' or 'dynamo', got {exporter!r}")
    start = time.perf_counter()
    with torch.no_grad():
        if exporter == 'torchscript':
            if axes is None and dynamic:
                axes = image_axes(output_names)
            torch.onnx.export(module, (sample, ), path, dynamo=False, opset_version=opset,
                              input_names=['input'], output_names=list(output_names),
                              dynamic_axes=axes)
        else:
            from torch.export import Dim
            shapes = ({0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO}, ) if dynamic else None
            torch.onnx.export(module, (sample, ), path, dynamo=True, opset_version=max(opset, 18),
                              input_names=['input'], output_names=list(output_names),
                              dynamic_shapes=shapes, verbose=False)
    return time.perf_counter() - start


class CheckRow(NamedTuple):
    shape: Tuple[int, ...]
    output: str
    max_abs_diff: float
    relative: float  # max |onnx - torch| / max |torch|


def check_onnx(path: str, module: nn.Module, inputs: Sequence[torch.Tensor],
               output_names: Sequence[str], runtime: str = 'onnxruntime') -> List[CheckRow]:
    """Run the ONNX file in ``runtime`` (``'onnxruntime'`` or ``'openvino'``, CPU) and
    ``module`` in PyTorch on each input; one row per input and output with the largest absolute
    difference and its ratio to the largest PyTorch value."""
    from .runtimes import load_onnx
    run = load_onnx(path, runtime)
    rows = []
    for x in inputs:
        with torch.no_grad():
            expected = module(x)
        expected = expected if isinstance(expected, (tuple, list)) else (expected, )
        got = run(x.numpy())
        for out_name, ref, value in zip(output_names, expected, got):
            value = torch.from_numpy(value)
            if value.shape != ref.shape:
                raise AssertionError(f'{out_name} at input {tuple(x.shape)}: {runtime} gives '
                                     f'{tuple(value.shape)}, PyTorch {tuple(ref.shape)}')
            rows.append(CheckRow(tuple(x.shape), out_name, (value - ref).abs().max().item(),
                                 relative_difference(value, ref)))
    return rows


def check_shapes(dynamic: bool, export_shape: Tuple[int, int, int]) -> List[Tuple[int, int, int]]:
    """``(batch, H, W)`` the export is checked at: with dynamic axes two sizes and batches not
    used at export (320x480 batch 1, 333x517 batch 2, or other ones where the export used
    one of those sizes); otherwise the export shape."""
    if not dynamic:
        return [export_shape]
    shapes = [(1, 320, 480), (2, 333, 517)]
    if tuple(export_shape[1:]) in [s[1:] for s in shapes]:
        shapes = [(1, 352, 416), (2, 289, 509)]
    return shapes


def check_inputs(in_channels: int, dynamic: bool, export_shape: Tuple[int, int, int],
                 image: bool) -> List[torch.Tensor]:
    """Inputs the export is checked on (:func:`check_shapes`): images (0-255) for segmentors,
    standard normal inputs for backbones."""
    gen = torch.Generator().manual_seed(0)
    shapes = check_shapes(dynamic, export_shape)
    if image:
        return [torch.rand(b, in_channels, h, w, generator=gen) * 255 for b, h, w in shapes]
    return [torch.randn(b, in_channels, h, w, generator=gen) for b, h, w in shapes]
