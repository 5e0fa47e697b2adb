#!/usr/bin/env python
"""What a training step costs: forward + backward of each backbone against Swin-T, ConvNeXt-T
and PVTv2-b2, eager and compiled.

    .venv/bin/python benchmarks/training_step.py     # writes benchmarks/training_step.{json,md}
    .venv/bin/python benchmarks/training_step.py --no-compile --repeats 3 --out /tmp/step

One step is what a detector or segmentor training pays in its backbone: train mode (BatchNorm
statistics, the configured drop path), float32, forward of a batch and backward of the summed
stage outputs, gradients reset between steps; the optimizer step is left out (AdamW costs the
same per parameter whatever the architecture). Shapes: batch 2 at 512x512 (ADE20K crops) and
batch 1 at 800x1344 (COCO). Timing is ``tools/benchmark.py --backward [--compile]``: every model
and its compiled twin in one round-robin, median of ``--repeats`` after a warm-up; the compiled
rows are ``torch.compile`` (inductor, a static graph per shape), compiled before timing, and
their ratio is taken against compiled Swin-T. BiFormer-T uses the authors' region count for the
size (n_win 8 at 512x512, 16 at 800x1344, as the ADE20K and COCO configs).
"""
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / 'tools'))
from benchmark import parse_args, run_benchmark  # noqa: E402
from common import (BACKBONES, biformer_n_win, command_line, header_line,  # noqa: E402
                    write_report)
from rivals import NAMED  # noqa: E402  (the names tools/benchmark.py builds)

MODELS = ['FasterViT-0', 'BiFormer-T', 'LITv2-S', 'Swin-T', 'ConvNeXt-T', 'PVTv2-b2']
SHAPES = ['2x512x512', '1x800x1344']


def summarise(rows: list) -> list:
    """One row per (shape, model): eager and compiled step times and their speed vs Swin-T's."""
    by_key = {(r['batch'], r['height'], r['width'], r['target']): r for r in rows}
    table = []
    for (b, h, w, name), row in by_key.items():
        if name.endswith(' compiled'):
            continue
        entry = dict(model=name, batch=b, height=h, width=w, eager_ms=row['latency_ms'],
                     eager_vs_swin_t=by_key[b, h, w, 'Swin-T']['latency_ms'] / row['latency_ms'])
        compiled = by_key.get((b, h, w, name + ' compiled'))
        if compiled is not None:
            entry.update(compiled_ms=compiled['latency_ms'],
                         compiled_vs_swin_t=(by_key[b, h, w, 'Swin-T compiled']['latency_ms']
                                             / compiled['latency_ms']),
                         compiled_vs_eager=row['latency_ms'] / compiled['latency_ms'],
                         compile_s=compiled['first_call_s'])
        table.append(entry)
    return table


def render(result: dict) -> str:
    lines = ['# Training step: forward + backward', '',
             header_line(result['machine'], result['repeats']).replace(
                 'eval mode, no_grad', 'train mode, forward + backward'),
             'Command: `' + result['command'] + '`. Optimizer step excluded. BiFormer-T: the '
             "authors' region count for the size (n_win 8 at 512x512, 16 at 800x1344). Compile "
             "time: the first call's, where inductor's on-disk cache of an earlier run may "
             'already hold the graph (a cold compile of these backbones took 34-136 s in an '
             'earlier run).', '',
             '| input (BxHxW) | model | eager (ms) | eager vs Swin-T | compiled (ms) | '
             'compiled vs Swin-T compiled | compiled vs eager | compile time (s) |',
             '|---|---|---|---|---|---|---|---|']
    for r in result['rows']:
        compiled = ((f'{r["compiled_ms"]:.0f}', f'{r["compiled_vs_swin_t"]:.2f}x',
                     f'{r["compiled_vs_eager"]:.2f}x', f'{r["compile_s"]:.0f}')
                    if 'compiled_ms' in r else ('-', ) * 4)
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["model"]} | '
                     f'{r["eager_ms"]:.0f} | {r["eager_vs_swin_t"]:.2f}x | '
                     + ' | '.join(compiled) + ' |')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=MODELS,
                        help='named backbones (Swin-T is added: the ratios need it)')
    parser.add_argument('--shapes', nargs='+', default=SHAPES, metavar='BxHxW')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--no-compile', action='store_true', help='eager rows only')
    parser.add_argument('--out', default=str(HERE / 'training_step'))
    args = parser.parse_args(argv)
    models = list(dict.fromkeys(args.models + ['Swin-T']))
    rows, header = [], None
    for shape in args.shapes:  # one run per shape: BiFormer-T's region count follows the size
        h, w = (int(v) for v in shape.split('x')[-2:])
        sized = {n: f'BiFormer-T n_win={biformer_n_win(h, w)}' if n == 'BiFormer-T' else n
                 for n in models}
        for name in sized.values():
            NAMED.setdefault(name, BACKBONES[name][:2])
        bench = parse_args([*sized.values(), '--shapes', shape, '--backward', '--no-memory',
                            '--repeats', str(args.repeats),
                            *([] if args.no_compile else ['--compile'])])
        result = run_benchmark(bench)
        header = result['header']
        plain = {v: k for k, v in sized.items()}
        for row in result['rows']:
            base, compiled = row['target'].removesuffix(' compiled'), row['target'].endswith(
                ' compiled')
            rows.append(dict(row, target=plain[base] + (' compiled' if compiled else ''),
                             built_as=base))
    write_report(args.out, dict(machine=header, repeats=args.repeats,
                                command=command_line('training_step.py', argv),
                                rows=summarise(rows)), render)
    return 0


if __name__ == '__main__':
    sys.exit(main())
