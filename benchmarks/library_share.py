#!/usr/bin/env python
"""How much of our lead over Swin-T is the GEMM library, on every machine measured: our three
backbones beside mmdet's Swin-T and mmdet's Swin-T with its ``nn.Linear`` layers running our
inference :class:`~mmvitplug.models.layers.fused.Linear` (oneDNN's GEMM, as ours do), and the
machine's float32 GEMM profile (MKL's ``torch.mm`` and oneDNN's GEMM), all interleaved.

    .venv/bin/python benchmarks/library_share.py     # adds this machine's run to
                                                     # benchmarks/library_share.{json,md}
                                                     # and re-renders the README's front table
    .venv/bin/python benchmarks/library_share.py --render    # re-render only

Why per machine: on one 2-core AMD EPYC oneDNN's float32 GEMM runs at twice MKL's, on another
of the same kind within 15%. Stock Swin-T runs MKL (``nn.Linear``), our inference linear layers
oneDNN, so "vs Swin-T" carries the library gap of the machine; "vs Swin-T (oneDNN linear)" is
the lead that does not depend on it. Each run keeps its GEMM profile; the front table shows
every run. Eval mode, no_grad, float32; BiFormer-T with the authors' region count for the size.
"""
import argparse
import datetime
import json
import statistics
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import build_for_size, command_line, header_line  # noqa: E402
from docs_tables import profile_text  # noqa: E402

from mmvitplug.models.layers.fused import Linear  # noqa: E402
from mmvitplug.utils.benchmarking import (GEMM_SIZE, gemm_runners, interleaved_medians,  # noqa: E402,E501
                                          machine_header)

OURS = ['FasterViT-0', 'BiFormer-T', 'LITv2-S']
SWIN_ONEDNN = 'Swin-T (oneDNN linear)'
SHAPES = [(8, 224, 224), (1, 512, 512), (1, 800, 1344)]
README = HERE.parent / 'README.md'
MARKERS = ('<!-- front-table -->', '<!-- /front-table -->')


def swin_on_onednn(h: int, w: int) -> torch.nn.Module:
    model = build_for_size('Swin-T', h, w)
    for module in model.modules():
        if type(module) is torch.nn.Linear:
            module.__class__ = Linear  # same parameters, oneDNN's GEMM in inference
    return model


def measure(repeats: int) -> dict:
    """One run: rows per (shape, model) and the GEMM profile (GMAC/s, median over shapes),
    the GEMMs timed in the same interleaving as the models."""
    gemms = gemm_runners()
    rows, rates = [], {g: [] for g in gemms}
    for batch, h, w in SHAPES:
        print(f'{batch}x3x{h}x{w} ...', flush=True)
        models = {n: build_for_size(n, h, w) for n in OURS + ['Swin-T']}
        models[SWIN_ONEDNN] = swin_on_onednn(h, w)
        x = torch.randn(batch, 3, h, w)
        runners = {n: (lambda m=m: m(x)) for n, m in models.items()}
        med = interleaved_medians(dict(runners, **gemms), repeats)
        for g in gemms:
            rates[g].append(GEMM_SIZE**3 / med[g] / 1e9)
        for n in OURS:
            rows.append(dict(model=n, batch=batch, height=h, width=w, latency_ms=med[n] * 1e3,
                             vs_swin_t=med['Swin-T'] / med[n],
                             vs_swin_t_onednn=med[SWIN_ONEDNN] / med[n],
                             swin_t_onednn_gain=med['Swin-T'] / med[SWIN_ONEDNN]))
    machine = dict(machine_header(gemm=False),
                   gemm_gmac_per_s={g: statistics.median(r) for g, r in rates.items()})
    return dict(machine=machine, rows=rows)


def run_label(index: int, run: dict) -> str:
    return f'machine {chr(ord("A") + index)}: {run["machine"]["cpu"]}, {profile_text(run["machine"])}'


def render(result: dict) -> str:
    lines = ['# Our lead over Swin-T, with Swin-T on the same GEMM library, per machine', '',
             __doc__.split('\n\n')[2].replace('\n', ' '), '']
    for i, run in enumerate(result['runs']):
        lines += [f'## {run_label(i, run)}', '',
                  header_line(run['machine'], run['repeats']),
                  f'Measured {run["date"]}. Command: `{run["command"]}`.', '',
                  '| input (BxHxW) | model | latency (ms) | vs Swin-T | '
                  'vs Swin-T (oneDNN linear) | Swin-T (oneDNN linear) vs Swin-T |',
                  '|---|---|---|---|---|---|']
        for r in run['rows']:
            lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["model"]} | '
                         f'{r["latency_ms"]:.0f} | {r["vs_swin_t"]:.2f}x | '
                         f'{r["vs_swin_t_onednn"]:.2f}x | {r["swin_t_onednn_gain"]:.2f}x |')
        lines.append('')
    return '\n'.join(lines)


def front_table(result: dict) -> list:
    """The README's table: each backbone's throughput vs Swin-T on every measured machine."""
    runs = result['runs']
    sizes = [f'{h}x{w}' if b == 1 else f'{b}x{h}x{w}' for b, h, w in SHAPES]
    lines = ['| backbone | machine | ' + ' | '.join(sizes) + ' |',
             '|---|---|' + '---|' * len(sizes)]
    for model in OURS:
        for i, run in enumerate(runs):
            cells = [f'{r["vs_swin_t"]:.2f}x ({r["vs_swin_t_onednn"]:.2f}x)'
                     for r in run['rows'] if r['model'] == model]
            lines.append(f'| {model} | {chr(ord("A") + i)} | ' + ' | '.join(cells) + ' |')
    lines.append('')
    lines += [f'- {run_label(i, run)}; {run["machine"]["threads"]} threads, torch '
              f'{run["machine"]["torch"]}' for i, run in enumerate(runs)]
    return lines


def update_readme(result: dict, path: Path = README) -> None:
    text = path.read_text()
    start, end = (text.index(m) for m in MARKERS)
    body = '\n'.join(front_table(result))
    path.write_text(text[:start + len(MARKERS[0])] + '\n' + body + '\n' + text[end:])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', default=str(HERE / 'library_share'))
    parser.add_argument('--render', action='store_true',
                        help='re-render the .md and the README table from the .json only')
    args = parser.parse_args(argv)
    json_path = Path(args.out + '.json')
    result = json.loads(json_path.read_text()) if json_path.exists() else dict(runs=[])
    if not args.render:
        run = measure(args.repeats)
        run.update(repeats=args.repeats,
                   date=datetime.date.today().isoformat(),
                   command=command_line('library_share.py', argv))
        result['runs'].append(run)
        json_path.write_text(json.dumps(result, indent=2))
    md = render(result)
    Path(args.out + '.md').write_text(md)
    print(md)
    if args.out == str(HERE / 'library_share'):
        update_readme(result)
        import docs_tables
        docs_tables.main([])
    return 0


if __name__ == '__main__':
    sys.exit(main())
