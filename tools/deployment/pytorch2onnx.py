#!/usr/bin/env python
"""Export a backbone or a whole segmentor to ONNX, then check it in onnxruntime.

    python tools/deployment/pytorch2onnx.py FasterViT-0 --out fastervit-0.onnx --dynamic
    python tools/deployment/pytorch2onnx.py configs/fastervit/upernet_ade20k.py \\
        --checkpoint work_dirs/upernet/iter_160000.pth --out upernet.onnx --shape 512 683 --dynamic

Targets: a backbone name (FasterViT-0, BiFormer-T, LITv2-S and the peers Swin-T, ConvNeXt-T,
PVTv2-b2) or a config file. A segmentation config exports the whole segmentor: the image as
mmseg loads it (float, 0-255, the channel order of the config's data preprocessor) in,
per-pixel class logits at the input size out. Detection and classification configs export
their backbone.

With ``--dynamic`` batch, height and width are dynamic, and the file is checked at two sizes and
batches not used at export (320x480 batch 1, 333x517 batch 2); without it at the export shape.
The check prints, per input and output, the largest absolute difference to PyTorch and its ratio
to the largest PyTorch value, and fails (exit code 1) above ``--tolerance``.
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
    parser.add_argument('--exporter', choices=('torchscript', 'dynamo'), default='torchscript',
                        help="torch.onnx.export(dynamo=False) (default) or the torch.export-based "
                        'exporter')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest accepted max|diff| / max|value| per output')
    parser.add_argument('--no-check', action='store_true', help='skip the onnxruntime check')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmvitplug.utils.deployment import (build_export_target, check_inputs, check_onnx,
                                            export_onnx)
    if args.checkpoint and not osp.isfile(args.checkpoint):
        print(f'error: checkpoint not found: {args.checkpoint}', file=sys.stderr)
        return 2
    try:
        target = build_export_target(args.target, args.checkpoint, NAMED)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    image = target.output_names == ['seg_logits']
    export_shape = (args.batch, *args.shape)
    gen = torch.Generator().manual_seed(0)
    sample = torch.rand(args.batch, target.in_channels, *args.shape, generator=gen)
    sample = sample * 255 if image else sample * 2 - 1
    print(f'exporting {target.description} at {"x".join(map(str, export_shape))}'
          f'{" (dynamic batch, height, width)" if args.dynamic else ""} with the '
          f'{args.exporter} exporter ...', flush=True)
    seconds = export_onnx(target.module, args.out, sample, target.output_names, args.dynamic,
                          args.exporter, args.opset)
    print(f'wrote {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB) in {seconds:.0f} s')
    if args.no_check:
        return 0
    rows = check_onnx(args.out, target.module,
                      check_inputs(target.in_channels, args.dynamic, export_shape, image),
                      target.output_names)
    print('onnxruntime vs PyTorch (CPU):')
    print(f'  {"input":>16}  {"output":>10}  {"max |diff|":>10}  {"relative":>9}')
    for row in rows:
        print(f'  {"x".join(map(str, row.shape)):>16}  {row.output:>10}  '
              f'{row.max_abs_diff:10.3e}  {row.relative:9.2e}')
    worst = max(row.relative for row in rows)
    if worst > args.tolerance:
        print(f'error: onnxruntime differs from PyTorch by {worst:.2e} (relative) > '
              f'{args.tolerance:g}', file=sys.stderr)
        return 1
    print(f'ok: within {args.tolerance:g} relative')
    return 0


if __name__ == '__main__':
    sys.exit(main())
