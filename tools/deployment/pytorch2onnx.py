#!/usr/bin/env python
"""Export a backbone, a whole segmentor or a whole detector to ONNX, then check it in
onnxruntime (or OpenVINO).

    python tools/deployment/pytorch2onnx.py FasterViT-0 --out fastervit-0.onnx --dynamic
    python tools/deployment/pytorch2onnx.py configs/fastervit/upernet_ade20k.py \\
        --checkpoint work_dirs/upernet/iter_160000.pth --out upernet.onnx --shape 512 683 --dynamic
    python tools/deployment/pytorch2onnx.py configs/fastervit/cascade_mask_rcnn_coco.py \\
        --checkpoint cascade.pth --out cascade.onnx --shape 800 1344 --dynamic

Targets: a backbone name (FasterViT-0, BiFormer-T, LITv2-S and the peers Swin-T, ConvNeXt-T,
PVTv2-b2) or a config file.

* A segmentation config exports the whole segmentor: the image as mmseg loads it (float, 0-255,
  the channel order of the config's data preprocessor) in, per-pixel class logits at the input
  size out.
* A detection config exports the whole detector (Faster / Mask / Cascade (Mask) R-CNN,
  RetinaNet) with standard ONNX operators only, mmdeploy's interface: ``input`` (1, 3, H, W), the
  resized image normalised as the data preprocessor does (not padded), in; ``dets`` (1, N, 5),
  ``labels`` (1, N) and, with masks, ``masks`` (1, N, H, W) probabilities out. RoI heads need
  opset >= 16. ``--backbone-only`` exports its backbone instead.
* A classification config exports its backbone.

With ``--dynamic`` batch (one image for detectors), height and width are dynamic, and the file is
checked at two sizes not used at export (320x480 batch 1, 333x517 batch 2); without it at the
export shape. Backbones and segmentors: the check prints, per input and output, the largest
absolute difference to PyTorch and its ratio to the largest PyTorch value, and fails (exit code
1) above ``--tolerance``. Detectors: the check runs mmdet's own inference (its data preprocessor
and ``predict``) on the same random images and fails unless the detections agree: the same count
and labels, boxes within 1e-3 of the image's larger side, scores within 1e-4 and the same binary
masks (but for pixels within 1e-2 of the mask threshold, which float32 round-off may flip).
"""
import argparse
import os.path as osp
import sys
import warnings
from pathlib import Path

import torch

# The peers' names come from the benchmarks' table (benchmarks/rivals.py), beside ours.
sys.path.append(str(Path(__file__).resolve().parents[2] / 'benchmarks'))
from rivals import NAMED  # noqa: E402

from mmvitplug.utils.runtimes import RUNTIMES  # noqa: E402

# The tracer warns about every Python value it freezes; the models keep what depends on the
# input size symbolic (and the check below would catch a frozen one).
warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('target', help='config file or backbone name')
    parser.add_argument('--checkpoint', help='weights to load (strictly) before export')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--shape', type=int, nargs=2, default=(512, 512), metavar=('H', 'W'),
                        help='input size traced at export (default 512 512)')
    parser.add_argument('--batch', type=int, default=1, help='batch traced at export')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch, height and width')
    parser.add_argument('--backbone-only', action='store_true',
                        help="export a detection config's backbone instead of the whole detector")
    parser.add_argument('--runtime', choices=RUNTIMES, default='onnxruntime',
                        help='the runtime the check runs the file in (default onnxruntime)')
    parser.add_argument('--exporter', choices=('torchscript', 'dynamo'), default='torchscript',
                        help="torch.onnx.export(dynamo=False) (default) or the torch.export-based "
                        'exporter')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest accepted max|diff| / max|value| per output')
    parser.add_argument('--no-check', action='store_true', help='skip the check in the runtime')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmvitplug.utils.deployment import (build_export_target, check_inputs, check_onnx,
                                            check_shapes, export_onnx)
    if args.checkpoint and not osp.isfile(args.checkpoint):
        print(f'error: checkpoint not found: {args.checkpoint}', file=sys.stderr)
        return 2
    try:
        target = build_export_target(args.target, args.checkpoint, NAMED, args.backbone_only)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    detector = target.kind == 'detector'
    if detector:
        from mmvitplug.utils.detection_graph import MIN_ROI_OPSET, preprocess
        if target.module.two_stage and args.opset < MIN_ROI_OPSET:
            print(f'error: a detector with RoI heads exports at --opset {MIN_ROI_OPSET} or '
                  f'later (ONNX RoiAlign has half-pixel alignment from opset {MIN_ROI_OPSET}), '
                  f'got {args.opset}', file=sys.stderr)
            return 2
        if args.exporter != 'torchscript' or args.batch != 1:
            print('error: a whole detector exports one image with the torchscript exporter',
                  file=sys.stderr)
            return 2
    export_shape = (args.batch, *args.shape)
    gen = torch.Generator().manual_seed(0)
    if detector:
        sample = preprocess(target.module.detector, _random_images([args.shape], gen)[0])
    else:
        sample = torch.rand(args.batch, target.in_channels, *args.shape, generator=gen)
        sample = sample * 255 if target.kind == 'segmentor' else sample * 2 - 1
    print(f'exporting {target.description} at {"x".join(map(str, export_shape))}'
          f'{" (dynamic height, width)" if args.dynamic else ""} with the '
          f'{args.exporter} exporter, opset {args.opset} ...', flush=True)
    seconds = export_onnx(target.module, args.out, sample, target.output_names, args.dynamic,
                          args.exporter, args.opset, axes=target.dynamic_axes(args.dynamic))
    print(f'wrote {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB) in {seconds:.0f} s')
    if args.no_check:
        return 0
    if detector:
        return _check_detector(args, target, export_shape, gen)
    rows = check_onnx(args.out, target.module,
                      check_inputs(target.in_channels, args.dynamic, export_shape,
                                   target.kind == 'segmentor'),
                      target.output_names, args.runtime)
    print(f'{args.runtime} vs PyTorch (CPU):')
    print(f'  {"input":>16}  {"output":>10}  {"max |diff|":>10}  {"relative":>9}')
    for row in rows:
        print(f'  {"x".join(map(str, row.shape)):>16}  {row.output:>10}  '
              f'{row.max_abs_diff:10.3e}  {row.relative:9.2e}')
    worst = max(row.relative for row in rows)
    if worst > args.tolerance:
        print(f'error: {args.runtime} differs from PyTorch by {worst:.2e} (relative) > '
              f'{args.tolerance:g}', file=sys.stderr)
        return 1
    print(f'ok: within {args.tolerance:g} relative')
    return 0


def _random_images(sizes, gen):
    """Random uint8 images (3, H, W), as mmdet's loaders give them."""
    return [torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8) for h, w in sizes]


def _check_detector(args, target, export_shape, gen) -> int:
    from mmvitplug.utils.deployment import check_shapes
    from mmvitplug.utils.detection_graph import (BOX_TOLERANCE, MASK_BAND, SCORE_TOLERANCE,
                                                 check_detector)
    sizes = [tuple(s[1:]) for s in check_shapes(args.dynamic, export_shape)]
    print(f'checking in {args.runtime} against mmdet\'s inference (its data preprocessor and '
          f'predict) on random images ...', flush=True)
    rows = check_detector(args.out, target.module, _random_images(sizes, gen), args.runtime)
    print(f'{args.runtime} vs mmdet (CPU):')
    print(f'  {"input":>9}  {"mmdet":>5}  {"onnx":>5}  {"unmatched":>9}  {"max |box diff|":>14}  '
          f'{"max |score diff|":>16}  {"mask pixels":>11}')
    for row in rows:
        print(f'  {"x".join(map(str, row.size)):>9}  {row.detections:5d}  '
              f'{row.onnx_detections:5d}  {row.unmatched:9d}  {row.box_diff:14.3e}  '
              f'{row.score_diff:16.3e}  {row.mask_pixel_mismatches:11d}')
    if not all(row.ok for row in rows):
        print(f'error: the exported detector differs from mmdet (required: the same detections '
              f'and labels, boxes within {BOX_TOLERANCE:g} x the larger image side, scores '
              f'within {SCORE_TOLERANCE:g}, the same binary masks but for pixels within '
              f'{MASK_BAND:g} of the threshold)', file=sys.stderr)
        return 1
    print('ok: the same detections as mmdet')
    return 0


if __name__ == '__main__':
    sys.exit(main())
