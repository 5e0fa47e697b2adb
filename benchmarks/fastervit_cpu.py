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
import json
import math
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import build_backbone, header, header_line, interleaved_medians, memory_probe  # noqa: E402

SHAPES = [(8, 224, 224), (1, 512, 512), (1, 800, 1344), (1, 1024, 1024)]
NAMES = ['FasterViT-0', 'Swin-T', 'ConvNeXt-T']


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--out', default=str(HERE / 'fastervit_cpu'), help='output path stem')
    parser.add_argument('--no-memory', action='store_true', help='skip the memory subprocesses')
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    info = header()
    print(f'CPU: {info["cpu"]}, {info["threads"]} threads; torch {info["torch"]}', flush=True)
    models = {n: build_backbone(n) for n in NAMES}
    rows = []
    for b, h, w in SHAPES:
        print(f'backbones at {b}x3x{h}x{w} ...', flush=True)
        x = torch.randn(b, 3, h, w)
        medians = interleaved_medians({n: (lambda m=m: m(x)) for n, m in models.items()},
                                      args.repeats)
        for n in NAMES:
            row = dict(model=n, batch=b, height=h, width=w, latency_ms=medians[n] * 1e3,
                       images_per_s=b / medians[n],
                       speedup_vs_swin_t=medians['Swin-T'] / medians[n])
            if not args.no_memory:
                row['peak_mem_mib'] = memory_probe(n, b, h, w)
            rows.append(row)

    def latency(name, h, w):
        return next(r['latency_ms'] for r in rows if (r['model'], r['height'], r['width'],
                                                      r['batch']) == (name, h, w, 1))

    growth = {n: math.log(latency(n, 1024, 1024) / latency(n, 512, 512)) / math.log(4)
              for n in NAMES}
    result = dict(header=info, repeats=args.repeats, backbones=rows,
                  latency_slope_512_to_1024=growth)
    Path(args.out + '.json').write_text(json.dumps(result, indent=2))
    md = render(result)
    Path(args.out + '.md').write_text(md)
    print(md)
    print(f'written: {args.out}.json, {args.out}.md')
    return 0


def render(result: dict) -> str:
    lines = [
        '# FasterViT on CPU', '',
        header_line(result['header'], result['repeats']), '',
        'Command: `.venv/bin/python benchmarks/fastervit_cpu.py`', '',
        '| input (BxHxW) | model | latency (ms) | images/s | speed vs Swin-T | peak memory (MiB) |',
        '|---|---|---|---|---|---|'
    ]
    for r in result['backbones']:
        mem = f'{r["peak_mem_mib"]:.0f}' if 'peak_mem_mib' in r else '-'
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["model"]} | '
                     f'{r["latency_ms"]:.0f} | {r["images_per_s"]:.2f} | '
                     f'{r["speedup_vs_swin_t"]:.2f}x | {mem} |')
    lines += ['', 'Latency growth from 512x512 to 1024x1024 (log-log slope against pixels; '
              '1.0 is linear):', '']
    lines += [f'- {n}: {s:.2f}' for n, s in result['latency_slope_512_to_1024'].items()]
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    sys.exit(main())
