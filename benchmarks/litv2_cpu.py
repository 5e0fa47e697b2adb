#!/usr/bin/env python
"""LITv2 CPU benchmark: backbone vs mmdet Swin-T and PVTv2-b2, and attention layers side by side.

    .venv/bin/python benchmarks/litv2_cpu.py            # writes benchmarks/litv2_cpu.{json,md}

1. Backbones in eval mode, ``torch.no_grad``, one process, all models interleaved round-robin
   (so drift of this shared machine hits all alike); median latency of ``--repeats`` runs after one
   warm-up, throughput relative to Swin-T. Peak memory: each (model, size) runs once more in a fresh
   subprocess, reporting the rise of the process's peak resident memory over its value after the
   model was built (the forward pass's transient memory; Linux only).
2. Attention layers at equal width and heads (384 channels, 12 heads: LITv2-S/Swin-T stage 3):
   HiLo (window 2, alpha 0.9), Swin-style window attention (mmdet ShiftWindowMSA, window 7, no
   shift), PVT-style spatial-reduction attention (mmdet SpatialReductionAttention, ratio 2, as
   PVTv2 stage 3) and global attention (torch MultiheadAttention), over feature-map sizes.
"""
import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mmvitplug.utils.benchmarking import machine_header  # noqa: E402
from common import (backbone_rows, backbone_table, build_layer,  # noqa: E402
                    header_line, interleaved_medians, write_report)

BACKBONE_SHAPES = [(8, 224, 224), (1, 512, 512), (1, 800, 1344)]
LAYER_SHAPES = [(8, 14, 14), (1, 32, 32), (1, 56, 56), (1, 50, 84), (1, 64, 64)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', default=str(HERE / 'litv2_cpu'), help='output path stem')
    parser.add_argument('--no-memory', action='store_true', help='skip the memory subprocesses')
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    info = machine_header()
    print(f'CPU: {info["cpu"]}, {info["threads"]} threads; torch {info["torch"]}, '
          f'mmdet {info["mmdet"]}', flush=True)
    backbones = backbone_rows(['LITv2-S', 'Swin-T', 'PVTv2-b2'], BACKBONE_SHAPES,
                              args.repeats, memory=not args.no_memory)

    layer_names = ['HiLo (LITv2)', 'Window (Swin)', 'SRA (PVT)', 'Global']
    layers = {n: build_layer(n) for n in layer_names}
    layer_rows = []
    for b, h, w in LAYER_SHAPES:
        print(f'attention layers at {b}x{h}x{w}x384 ...', flush=True)
        x = torch.randn(b, h * w, 384)
        medians = interleaved_medians(
            {n: (lambda fn=fn: fn(x, (h, w))) for n, (_, fn) in layers.items()}, args.repeats)
        for n in layer_names:
            layer_rows.append(dict(layer=n, batch=b, height=h, width=w,
                                   latency_ms=medians[n] * 1e3,
                                   hilo_speedup=medians[n] / medians['HiLo (LITv2)']))

    result = dict(header=info, repeats=args.repeats, backbones=backbones,
                  layers=layer_rows)
    write_report(args.out, result, render)
    return 0


def render(result: dict) -> str:
    info = result['header']
    lines = [
        '# LITv2 on CPU', '',
        header_line(info, result['repeats']), '',
        'Command: `.venv/bin/python benchmarks/litv2_cpu.py`', '',
        '## Backbones', '',
    ]
    lines += backbone_table(result['backbones'])
    lines += [
        '', '## Attention layers (384 channels, 12 heads)', '',
        '| feature map (BxHxW) | layer | latency (ms) | HiLo speed-up over it |',
        '|---|---|---|---|'
    ]
    for r in result['layers']:
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["layer"]} | '
                     f'{r["latency_ms"]:.2f} | {r["hilo_speedup"]:.2f}x |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    sys.exit(main())
