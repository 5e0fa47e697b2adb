#!/usr/bin/env python
"""BiFormer CPU benchmark: BiFormer-T backbone vs mmdet Swin-T, and vs the authors' routing
formulation (all routed keys/values gathered at once).

    .venv/bin/python benchmarks/biformer_cpu.py         # writes benchmarks/biformer_cpu.{json,md}

1. Backbones in eval mode, ``torch.no_grad``, one process, models interleaved round-robin; median
   latency of ``--repeats`` runs after one warm-up, throughput relative to Swin-T. Sizes and the
   authors' region counts: 224x224 batch 8 with n_win 7 (ImageNet), 512x512 with n_win 8
   (ADE20K crops), 800x1344 with n_win 16 (COCO). At each size: BiFormer-T with the released
   region-count policy, the same model routing the authors' way ("gather-all": every query
   region's routed K/V copied at once, logits materialised), BiFormer-T with the region-size
   policy (regions of 8/4/2 tokens per side in stages 1-3, ImageNet-224's regions), and Swin-T.
   Peak memory: each (model, size) once more in a fresh subprocess (rise of the peak resident
   memory during one forward pass).
2. Forward + backward at 512x512 (train mode, sum of the four outputs as the loss).
3. Latency growth with pixels at a fixed policy (n_win 16 vs regions 8/4/2) from 512x512 to
   1024x1024: log-log slope (1.0 = linear).
"""
import argparse
import math
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mmvitplug.utils.benchmarking import machine_header  # noqa: E402
from common import (backbone_rows, backbone_table, build_backbone,  # noqa: E402
                    header_line, interleaved_medians, write_report)

# (batch, height, width, regions per side the authors use at that size)
SHAPES = [(8, 224, 224, 7), (1, 512, 512, 8), (1, 800, 1344, 16)]
SIZE_POLICY = 'BiFormer-T regions 8/4/2'
GROWTH_NAMES = ['BiFormer-T n_win=16', SIZE_POLICY, 'Swin-T']


def train_step_medians(names, shape, repeats: int) -> dict:
    """Median seconds of forward + backward (train mode) per model, interleaved."""
    models = {n: build_backbone(n) for n in names}
    for model in models.values():
        model.train()  # separately: mmdet's SwinTransformer.train() returns None
    x = torch.randn(*shape)

    def step(model):
        model.zero_grad(set_to_none=True)
        sum(o.sum() for o in model(x)).backward()

    times = {n: [] for n in names}
    for model in models.values():
        step(model)
    for _ in range(repeats):
        for n, model in models.items():
            start = time.perf_counter()
            step(model)
            times[n].append(time.perf_counter() - start)
    return {n: sorted(t)[len(t) // 2] for n, t in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--out', default=str(HERE / 'biformer_cpu'), help='output path stem')
    parser.add_argument('--no-memory', action='store_true', help='skip the memory subprocesses')
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    info = machine_header()
    print(f'CPU: {info["cpu"]}, {info["threads"]} threads; torch {info["torch"]}', flush=True)
    rows = []
    for b, h, w, n_win in SHAPES:
        names = [f'BiFormer-T n_win={n_win}', f'BiFormer-T n_win={n_win} gather-all',
                 SIZE_POLICY, 'Swin-T']
        rows += backbone_rows(names, [(b, h, w)], args.repeats, memory=not args.no_memory)

    print('forward + backward at 1x512x512 ...', flush=True)
    train_names = ['BiFormer-T n_win=8', 'BiFormer-T n_win=8 gather-all', SIZE_POLICY, 'Swin-T']
    train = train_step_medians(train_names, (1, 3, 512, 512), args.repeats)
    train_rows = [dict(model=n, latency_ms=t * 1e3, speedup_vs_swin_t=train['Swin-T'] / t)
                  for n, t in train.items()]

    print('latency growth 512x512 -> 1024x1024 ...', flush=True)
    models = {n: build_backbone(n) for n in GROWTH_NAMES}
    growth = {}
    small, large = torch.randn(1, 3, 512, 512), torch.randn(1, 3, 1024, 1024)
    lat_small = interleaved_medians({n: (lambda m=m: m(small)) for n, m in models.items()},
                                    args.repeats)
    lat_large = interleaved_medians({n: (lambda m=m: m(large)) for n, m in models.items()},
                                    args.repeats)
    for n in GROWTH_NAMES:
        growth[n] = dict(ms_512=lat_small[n] * 1e3, ms_1024=lat_large[n] * 1e3,
                         slope=math.log(lat_large[n] / lat_small[n]) / math.log(4))

    result = dict(header=info, repeats=args.repeats, backbones=rows, train_512=train_rows,
                  growth_512_to_1024=growth)
    write_report(args.out, result, render)
    return 0


def render(result: dict) -> str:
    lines = [
        '# BiFormer on CPU', '',
        header_line(result['header'], result['repeats']), '',
        'Command: `.venv/bin/python benchmarks/biformer_cpu.py`', '',
        '"gather-all" is the same BiFormer-T routing the authors\' way (every query region\'s '
        'routed keys/values copied at once, logits materialised); "regions 8/4/2" is the '
        'region-size policy (ImageNet-224\'s regions at every size). n_win is the authors\' '
        'region count for the size.', '',
        '## Backbones (eval)', '',
    ]
    lines += backbone_table(result['backbones'])
    lines += ['', '## Forward + backward at 1x512x512 (train mode)', '',
              '| model | latency (ms) | speed vs Swin-T |', '|---|---|---|']
    for r in result['train_512']:
        lines.append(f'| {r["model"]} | {r["latency_ms"]:.0f} | {r["speedup_vs_swin_t"]:.2f}x |')
    lines += ['', '## Latency growth, 512x512 -> 1024x1024 (log-log slope; 1.0 is linear)', '',
              '| model | 512x512 (ms) | 1024x1024 (ms) | slope |', '|---|---|---|---|']
    for n, g in result['growth_512_to_1024'].items():
        lines.append(f'| {n} | {g["ms_512"]:.0f} | {g["ms_1024"]:.0f} | {g["slope"]:.2f} |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    sys.exit(main())
