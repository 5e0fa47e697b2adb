"""Export an mmseg segmentor of this repository with mmdeploy's own ``torch2onnx`` and check the
graph in onnxruntime (or OpenVINO) against PyTorch at sizes other than the export's.

mmdeploy is not part of mmvitplug's setup: mmdeploy 1.3.1 (the last release, Dec 2023) pins
``protobuf<=3.20.2``, which onnx 1.23 cannot use, and ships a bundled onnxruntime 1.15 library
for its custom ops. Its pure-Python converter works beside this stack when installed apart,
without its dependencies, in a folder put on ``PYTHONPATH``::

    .venv/bin/pip download mmdeploy==1.3.1 aenum --no-deps -d /tmp/mmdeploy_dl
    .venv/bin/pip install --no-deps --target /tmp/mmdeploy_pkgs /tmp/mmdeploy_dl/*.whl
    PYTHONPATH=/tmp/mmdeploy_pkgs .venv/bin/python tools/deployment/mmdeploy_check.py \\
        configs/demo/upernet_demo.py --opset 11

(``aenum`` is the only missing dependency mmdeploy imports on this path; ``grpcio`` (SNPE) and
``multiprocess`` (a fallback of ``torch.multiprocessing``) are never imported.)

The switch mmdeploy needs on torch >= 2.9: ``torch.onnx.export`` defaults to the dynamo
(``torch.export``-based) exporter there, while mmdeploy's rewriters patch the TorchScript
exporter (tracing, symbolic functions, ``_model_to_graph`` passes). mmdeploy calls
``torch.onnx.export`` through the module attribute at export time, so rebinding it to
``functools.partial(torch.onnx.export, dynamo=False)`` around ``torch2onnx`` is enough (see
:func:`torchscript_exporter`); nothing in mmdeploy or torch is edited.

What mmdeploy exports for mmseg (``codebase_config.with_argmax``, True in its shipped
``segmentation_*`` configs): input ``input`` is the *preprocessed* image (channel flip and
normalisation already applied, as mmseg's data preprocessor gives it), output ``output`` is the
int64 label map ``(N, 1, H, W)``; with ``--logits`` (``with_argmax=False``) the float logits
``(N, num_classes, H, W)``, the same numbers as this repository's ``SegmentorLogits`` (which
also folds the preprocessing into the graph).

mmdeploy rewrites ``F.adaptive_avg_pool2d`` (UPerNet's pyramid pooling) into ``avg_pool2d``
with a kernel computed in Python from the traced size, i.e. frozen at the export size: exact
only at sizes whose stride-32 feature map equals the export one and is divisible by every pool
scale. ``--exact-pooling`` swaps the pooling modules for ``AdaptiveAvgPool2dByMatrices`` (the
swap of ``mmvitplug.utils.deployment.make_exportable``) in the model mmdeploy builds, which
keeps the pooling exact at every size.

Measured (mmdeploy 1.3.1, torch 2.14.1, onnxruntime 1.32, the demo UPerNets with random weights,
export 1x3x192x192, checks at 1x3x160x224 and 2x3x111x150, opset 11):

* FasterViT-0, as mmdeploy ships it: exact at the export size (2.5e-6), wrong elsewhere
  (logits 0.39 / 0.28 relative, labels 92.4% / 86.3% equal to PyTorch's);
* FasterViT-0, BiFormer-T, LITv2-S with ``--exact-pooling``: logits within 4e-6 at every size,
  labels 100% equal (LITv2 needs the float-only bounds of deformable token merging: with an
  integer ``Clip`` in the graph, onnxruntime and OpenVINO refuse to load it at opset 11);
* without the ``dynamo=False`` switch the export stops in ``torch.export`` (mmdeploy's
  ``dynamic_axes`` do not match the dynamo exporter's ``dynamic_shapes`` structure).

Random weights unless ``--checkpoint`` (saved as an mmengine checkpoint in ``--work-dir`` for
mmdeploy to load). Exit status 1 when a checked size is not within ``--tolerance``.
"""
import argparse
import contextlib
import functools
import os
import os.path as osp
import sys

import numpy as np
import torch

from mmvitplug.utils.deployment import SegmentorLogits, make_exportable, relative_difference
from mmvitplug.utils.runtimes import RUNTIMES, load_onnx


@contextlib.contextmanager
def torchscript_exporter():
    """``torch.onnx.export`` with ``dynamo=False`` inside the block (what mmdeploy expects)."""
    original = torch.onnx.export
    torch.onnx.export = functools.partial(original, dynamo=False)
    try:
        yield
    finally:
        torch.onnx.export = original


@contextlib.contextmanager
def exact_pooling(enabled: bool):
    """Apply ``make_exportable`` to the model mmdeploy's segmentation task builds."""
    from mmdeploy.codebase.mmseg.deploy.segmentation import Segmentation
    original = Segmentation.build_pytorch_model

    def build(self, *args, **kwargs):
        return make_exportable(original(self, *args, **kwargs))

    if enabled:
        Segmentation.build_pytorch_model = build
    try:
        yield
    finally:
        Segmentation.build_pytorch_model = original


def deploy_config(opset: int, export_hw, with_argmax: bool) -> dict:
    """mmdeploy's configs/mmseg/segmentation_onnxruntime_dynamic.py (v1.3.1) with its bases
    (_base_/onnx_config.py, _base_/backends/onnxruntime.py, segmentation_static.py,
    segmentation_dynamic.py) merged, plus the export size and opset."""
    return dict(
        onnx_config=dict(
            type='onnx', export_params=True, keep_initializers_as_inputs=False,
            opset_version=opset, save_file='end2end.onnx', input_names=['input'],
            output_names=['output'], optimize=True,
            input_shape=[export_hw[1], export_hw[0]],  # (width, height); None: the pipeline's
            dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'},
                          'output': {0: 'batch', 2: 'height', 3: 'width'}}),
        codebase_config=dict(type='mmseg', task='Segmentation', with_argmax=with_argmax),
        backend_config=dict(type='onnxruntime'))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='an mmseg config of this repository')
    parser.add_argument('--checkpoint', help='weights (default: random, seed 0)')
    parser.add_argument('--work-dir', default='work_dirs/mmdeploy_check')
    parser.add_argument('--opset', type=int, default=11, help="mmdeploy's default: 11")
    parser.add_argument('--export-size', type=int, nargs=2, default=[192, 192],
                        metavar=('H', 'W'))
    parser.add_argument('--check-sizes', type=int, nargs='+', default=[1, 160, 224, 2, 111, 150],
                        metavar='N H W', help='batch, height, width triples')
    parser.add_argument('--logits', action='store_true',
                        help='with_argmax=False: logits out instead of the label map')
    parser.add_argument('--exact-pooling', action='store_true',
                        help="keep UPerNet's adaptive pooling exact at every size")
    parser.add_argument('--runtime', choices=RUNTIMES, default='onnxruntime')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='relative max|diff|/max|ref| of the logits (with --logits)')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        from mmdeploy.apis import torch2onnx
    except ImportError:
        sys.exit('mmdeploy is not importable: install it beside the stack as this script\'s '
                 'docstring says and put its folder on PYTHONPATH')
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmseg.registry import MODELS

    import mmvitplug.models  # noqa: F401  (registers the backbones)
    cfg = Config.fromfile(args.config)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    checkpoint = osp.join(args.work_dir, 'weights.pth')
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    os.makedirs(args.work_dir, exist_ok=True)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    reference = SegmentorLogits(model).eval()  # mmseg's own pooling: the reference

    # mmdeploy's mmseg input pipeline loads an image (H, W, 3) uint8 in BGR and resizes it to
    # the deploy config's input_shape.
    h, w = args.export_size
    image = (np.random.RandomState(0).rand(h, w, 3) * 255).astype(np.uint8)
    with torchscript_exporter(), exact_pooling(args.exact_pooling):
        torch2onnx(image, args.work_dir, 'end2end.onnx',
                   Config(deploy_config(args.opset, (h, w), not args.logits)), cfg, checkpoint,
                   device='cpu')
    path = osp.join(args.work_dir, 'end2end.onnx')
    print(f'exported {path} (opset {args.opset}, export size {h}x{w}, output '
          f'{"logits" if args.logits else "label map"})')

    run = load_onnx(path, args.runtime)
    sizes = [tuple(args.check_sizes[i:i + 3]) for i in range(0, len(args.check_sizes), 3)]
    gen = torch.Generator().manual_seed(1)
    failed = False
    for n, ch, cw in [(1, h, w)] + sizes:
        img = torch.rand(n, 3, ch, cw, generator=gen) * 255  # BGR, 0-255, as mmseg loads it
        with torch.no_grad():
            ref = reference(img)
        x = img.flip(1) if reference.flip_channels else img
        if reference.normalize:
            x = (x - reference.mean) / reference.std
        try:
            out = torch.from_numpy(run(x.numpy())[0])
        except Exception as err:  # a graph that does not run at this size is a finding too
            print(f'{n}x3x{ch}x{cw}: {args.runtime} fails: {str(err).splitlines()[0][:200]}')
            failed = True
            continue
        if args.logits:
            rel = relative_difference(out, ref) if out.shape == ref.shape else float('inf')
            ok = rel < args.tolerance
            print(f'{n}x3x{ch}x{cw}: logits {tuple(out.shape)}, relative difference {rel:.2e} '
                  f'({"ok" if ok else "FAIL"})')
        else:
            labels = ref.argmax(1, keepdim=True)
            agree = (out == labels).float().mean().item() if out.shape == labels.shape else 0.
            ok = agree == 1.0
            print(f'{n}x3x{ch}x{cw}: labels {tuple(out.shape)} {out.dtype}, '
                  f'{100 * agree:.3f}% equal to the PyTorch argmax ({"ok" if ok else "FAIL"})')
        failed |= not ok
    return int(failed)


if __name__ == '__main__':
    sys.exit(main())
