#!/usr/bin/env python
"""How much of our lead over Swin-T is the GEMM library: mmdet's Swin-T once more with its
``nn.Linear`` layers running our inference :class:`~mmvitplug.models.layers.fused.Linear`
(oneDNN's GEMM, as ours do), beside stock Swin-T and our three backbones, interleaved.

    .venv/bin/python benchmarks/library_share.py     # writes benchmarks/library_share.{json,md}

Eval mode, no_grad, float32; BiFormer-T with the authors' region count for the size.
"""
import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import build_for_size, command_line, header_line, write_report  # noqa: E402

from mmvitplug.models.layers.fused import Linear  # noqa: E402
from mmvitplug.utils.benchmarking import interleaved_medians, machine_header  # noqa: E402

OURS = ['FasterViT-0', 'BiFormer-T', 'LITv2-S']
SWIN_ONEDNN = 'Swin-T (oneDNN linear)'
SHAPES = [(8, 224, 224), (1, 512, 512), (1, 800, 1344)]


def swin_on_onednn(h: int, w: int) -> torch.nn.Module:
    model = build_for_size('Swin-T', h, w)
    for module in model.modules():
        if type(module) is torch.nn.Linear:
            module.__class__ = Linear  # same parameters, oneDNN's GEMM in inference
    return model


def measure(repeats: int) -> list:
    rows = []
    for b, h, w in SHAPES:
        print(f'{b}x3x{h}x{w} ...', flush=True)
        models = {n: build_for_size(n, h, w) for n in OURS + ['Swin-T']}
        models[SWIN_ONEDNN] = swin_on_onednn(h, w)
        x = torch.randn(b, 3, h, w)
        med = interleaved_medians({n: (lambda m=m: m(x)) for n, m in models.items()}, repeats)
        for n in OURS:
            rows.append(dict(model=n, batch=b, height=h, width=w, latency_ms=med[n] * 1e3,
                             vs_swin_t=med['Swin-T'] / med[n],
                             vs_swin_t_onednn=med[SWIN_ONEDNN] / med[n],
                             swin_t_onednn_gain=med['Swin-T'] / med[SWIN_ONEDNN]))
    return rows


def render(result: dict) -> str:
    lines = ['# Our lead over Swin-T with Swin-T on the same GEMM library', '',
             header_line(result['machine'], result['repeats']),
             'Command: `' + result['command'] + '`.', '',
             '| input (BxHxW) | model | latency (ms) | vs Swin-T | vs Swin-T (oneDNN linear) | '
             'Swin-T (oneDNN linear) vs Swin-T |', '|---|---|---|---|---|---|']
    for r in result['rows']:
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["model"]} | '
                     f'{r["latency_ms"]:.0f} | {r["vs_swin_t"]:.2f}x | '
                     f'{r["vs_swin_t_onednn"]:.2f}x | {r["swin_t_onednn_gain"]:.2f}x |')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', default=str(HERE / 'library_share'))
    args = parser.parse_args(argv)
    write_report(args.out, dict(machine=machine_header(), repeats=args.repeats,
                                command=command_line('library_share.py', argv),
                                rows=measure(args.repeats)), render)
    return 0


if __name__ == '__main__':
    sys.exit(main())
