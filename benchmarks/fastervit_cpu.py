#!/usr/bin/env python
"""FasterViT CPU benchmark: FasterViT-0 backbone vs mmdet Swin-T and mmpretrain ConvNeXt-T.

    .venv/bin/python benchmarks/fastervit_cpu.py        # writes benchmarks/fastervit_cpu.{json,md}

Backbones in eval mode, ``torch.no_grad``, one process, models interleaved round-robin; median
latency of ``--repeats`` runs after one warm-up, throughput relative to Swin-T. Sizes: 224x224
batch 8, 512x512, 800x1344 and 1024x1024 batch 1. Peak memory: each (model, size) once more in
a fresh subprocess (rise of the peak resident memory during one forward pass). Latency growth:
the log-log slope of latency against pixels from 512x512 to 1024x1024 (1.0 = linear).
"""
import argparse
import math
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mmvitplug.utils.benchmarking import machine_header  # noqa: E402
from common import (backbone_rows, backbone_table, header_line,  # noqa: E402
                    write_report)

SHAPES = [(8, 224, 224), (1, 512, 512), (1, 800, 1344), (1, 1024, 1024)]
NAMES = ['FasterViT-0', 'Swin-T', 'ConvNeXt-T']


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--out', default=str(HERE / 'fastervit_cpu'), help='output path stem')
    parser.add_argument('--no-memory', action='store_true', help='skip the memory subprocesses')
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    info = machine_header()
    print(f'CPU: {info["cpu"]}, {info["threads"]} threads; torch {info["torch"]}', flush=True)
    rows = backbone_rows(NAMES, SHAPES, args.repeats, memory=not args.no_memory)

    def latency(name, h, w):
        return next(r['latency_ms'] for r in rows if (r['model'], r['height'], r['width'],
                                                      r['batch']) == (name, h, w, 1))

    growth = {n: math.log(latency(n, 1024, 1024) / latency(n, 512, 512)) / math.log(4)
              for n in NAMES}
    result = dict(header=info, repeats=args.repeats, backbones=rows,
                  latency_slope_512_to_1024=growth)
    write_report(args.out, result, render)
    return 0


def render(result: dict) -> str:
    lines = [
        '# FasterViT on CPU', '',
        header_line(result['header'], result['repeats']), '',
        'Command: `.venv/bin/python benchmarks/fastervit_cpu.py`', '',
    ]
    lines += backbone_table(result['backbones'])
    lines += ['', 'Latency growth from 512x512 to 1024x1024 (log-log slope against pixels; '
              '1.0 is linear):', '']
    lines += [f'- {n}: {s:.2f}' for n, s in result['latency_slope_512_to_1024'].items()]
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    sys.exit(main())
