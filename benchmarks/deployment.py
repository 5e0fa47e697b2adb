#!/usr/bin/env python
"""Deployment benchmark: onnxruntime vs PyTorch eager, compiled vs eager, and how many graphs
torch.compile builds over a multi-scale sweep.

    .venv/bin/python benchmarks/deployment.py     # writes benchmarks/deployment.{json,md}

1. onnxruntime (CPU execution provider, as many intra-op threads as torch uses) against
   PyTorch eager for our three backbones at 512x512 and 800x1344, interleaved per size. Each
   model is exported once with dynamic batch/height/width (TorchScript exporter, as
   ``tools/deployment/pytorch2onnx.py --dynamic``); both sizes run the same file.
2. ``torch.compile(model, dynamic=False)`` (inductor, one graph per size: what a fixed-size
   deployment compiles) against eager for ours and mmdet's Swin-T at 512x512, interleaved,
   with the time of the first (compiling) call.
3. The first call of ``torch.compile(model, dynamic=True)`` (inductor) at 512x512, each model in
   a fresh process with an empty inductor cache and a time limit (``--dynamic-timeout``).
4. bfloat16 autocast against float32 at detection sizes: the relative error (max |diff| / max
   |float32|) of each output, authors' initialisation (``init_weights``), seed 0.
5. Graphs dynamo builds for each of our backbones over ten input sizes (a detector's
   multi-scale training sizes and odd ones), counted with a backend that only counts.

Each section's table is written as soon as it is measured.

Eval mode, no_grad, float32, batch 1; BiFormer-T with the authors' region count for the size
(n_win 8 at 512x512, 16 at 800x1344).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import biformer_n_win, build_backbone, header_line, write_report  # noqa: E402

from mmvitplug.utils.benchmarking import interleaved_medians, machine_header  # noqa: E402
from mmvitplug.utils.deployment import export_onnx, relative_difference  # noqa: E402

OURS = ['FasterViT-0', 'BiFormer-T', 'LITv2-S']
SIZES = [(512, 512), (800, 1344)]
COMPILE_SIZES = [(512, 512)]  # inductor takes minutes per model and size on 2 cores
SWEEP = [(480, 1333), (512, 1333), (640, 1333), (672, 1333), (800, 1333), (1024, 1333),
         (333, 517), (517, 333), (224, 224), (37, 1400)]


def build(name: str, h: int, w: int) -> torch.nn.Module:
    if name == 'BiFormer-T':
        name = f'BiFormer-T n_win={biformer_n_win(h, w)}'
    torch.manual_seed(0)
    return build_backbone(name)


def onnx_vs_eager(repeats: int, workdir: str) -> list:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    rows = []
    for h, w in SIZES:
        print(f'onnxruntime vs eager at {h}x{w} ...', flush=True)
        x = torch.randn(1, 3, h, w)
        runners = {}
        for name in OURS:
            model = build(name, h, w)
            path = f'{workdir}/{name}-{h}x{w}.onnx'
            export_onnx(model, path, torch.randn(1, 3, 224, 224), [f'out{i}' for i in range(4)])
            session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
            feed = {session.get_inputs()[0].name: x.numpy()}
            runners[f'{name} eager'] = lambda m=model: m(x)
            runners[f'{name} onnxruntime'] = lambda s=session, f=feed: s.run(None, f)
        medians = interleaved_medians(runners, repeats)
        for name in OURS:
            eager, onnx = medians[f'{name} eager'], medians[f'{name} onnxruntime']
            rows.append(dict(model=name, height=h, width=w, eager_ms=eager * 1e3,
                             onnxruntime_ms=onnx * 1e3, onnxruntime_speedup=eager / onnx))
    return rows


def compiled_vs_eager(repeats: int) -> list:
    rows = []
    names = OURS + ['Swin-T']
    for h, w in COMPILE_SIZES:
        print(f'compiled vs eager at {h}x{w} ...', flush=True)
        # Static graphs: without dynamic=False a second size (or a second model sharing a
        # layer's code) would switch dynamo to a dynamic recompile.
        torch._dynamo.reset()
        x = torch.randn(1, 3, h, w)
        runners, first = {}, {}
        for name in names:
            model = build(name, h, w)
            fast = torch.compile(model, dynamic=False)
            start = time.perf_counter()
            with torch.no_grad():
                fast(x)
            first[name] = time.perf_counter() - start
            print(f'  {name}: first call {first[name]:.0f} s', flush=True)
            runners[f'{name} eager'] = lambda m=model: m(x)
            runners[f'{name} compiled'] = lambda m=fast: m(x)
        medians = interleaved_medians(runners, repeats)
        for name in names:
            eager, fast = medians[f'{name} eager'], medians[f'{name} compiled']
            rows.append(dict(model=name, height=h, width=w, eager_ms=eager * 1e3,
                             compiled_ms=fast * 1e3, compiled_speedup=eager / fast,
                             first_call_s=first[name]))
    return rows


def dynamic_first_call(name: str) -> dict:
    """Run in a child process: first and second call of ``torch.compile(dynamic=True)`` at
    512x512, then the first call at 333x517."""
    model = build(name, 512, 512)
    fast = torch.compile(model, dynamic=True)
    times = []
    for h, w in ((512, 512), (512, 512), (333, 517)):
        x = torch.randn(1, 3, h, w)
        start = time.perf_counter()
        with torch.no_grad():
            out = fast(x)
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        ref = model(x)
    worst = max(relative_difference(o, r) for o, r in zip(out, ref))
    return dict(first_call_s=times[0], second_call_s=times[1], other_size_s=times[2],
                max_relative_difference=worst)


def dynamic_first_calls(timeout: float) -> list:
    rows = []
    for name in OURS + ['Swin-T']:
        print(f'torch.compile(dynamic=True) first call of {name} '
              f'(limit {timeout:.0f} s) ...', flush=True)
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache)
            try:
                proc = subprocess.run([sys.executable, __file__, '--dynamic-child', name],
                                      env=env, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                rows.append(dict(model=name, finished=False, limit_s=timeout))
                continue
        if proc.returncode:
            raise RuntimeError(f'{name}: dynamic compile failed:\n{proc.stderr[-3000:]}')
        rows.append(dict(model=name, finished=True, limit_s=timeout,
                         **json.loads(proc.stdout.strip().splitlines()[-1])))
    return rows


def graphs_over_sweep() -> list:
    rows = []
    for name in OURS:
        print(f'graphs of {name} over {len(SWEEP)} sizes ...', flush=True)
        torch._dynamo.reset()
        graphs = []

        def count(gm, example_inputs):
            graphs.append(1)
            return gm.forward

        model = build_backbone('BiFormer-T n_win=16' if name == 'BiFormer-T' else name)
        fast = torch.compile(model, dynamic=True, backend=count)
        worst = 0.0
        for h, w in SWEEP:
            x = torch.randn(1, 3, h, w)
            with torch.no_grad():
                for out, ref in zip(fast(x), model(x)):
                    worst = max(worst, relative_difference(out, ref))
        rows.append(dict(model=name, sizes=len(SWEEP), graphs=len(graphs),
                         max_relative_difference=worst))
    return rows


def bfloat16_errors() -> list:
    rows = []
    for name in ['FasterViT-0', 'BiFormer-T n_win=7', 'BiFormer-T n_win=16', 'LITv2-S']:
        torch.manual_seed(0)
        model = build_backbone(name)
        model.init_weights()
        model.eval()
        for h, w in ((800, 1344), (1344, 1344)):
            print(f'bfloat16 autocast vs float32: {name} at {h}x{w} ...', flush=True)
            x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                ref = model(x)
                with torch.autocast('cpu', dtype=torch.bfloat16):
                    low = model(x)
            errors = [relative_difference(o, r) for o, r in zip(low, ref)]
            rows.append(dict(model=name, height=h, width=w, relative_errors=errors,
                             finite=all(bool(o.isfinite().all()) for o in low)))
    return rows


SECTIONS = {
    'onnx_vs_eager': lambda args, workdir: onnx_vs_eager(args.repeats, workdir),
    'bfloat16': lambda args, workdir: bfloat16_errors(),
    'graphs_over_sweep': lambda args, workdir: graphs_over_sweep(),
    'compiled_vs_eager': lambda args, workdir: compiled_vs_eager(args.repeats),
    'dynamic_first_calls': lambda args, workdir: dynamic_first_calls(args.dynamic_timeout),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--out', default=str(HERE / 'deployment'), help='output path stem')
    parser.add_argument('--sections', default=','.join(SECTIONS),
                        help='comma-separated subset of ' + ', '.join(SECTIONS) + '; measured '
                        'sections replace theirs in an existing OUT.json, the others are kept')
    parser.add_argument('--dynamic-timeout', type=float, default=420,
                        help='seconds allowed for each dynamic-shape compilation')
    parser.add_argument('--dynamic-child', metavar='NAME', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.filterwarnings('ignore')
    if args.dynamic_child:
        print(json.dumps(dynamic_first_call(args.dynamic_child)), flush=True)
        return 0
    sections = args.sections.split(',')
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f'unknown sections {sorted(unknown)}; choose from {", ".join(SECTIONS)}')
    import onnxruntime
    info = machine_header()
    print(f'CPU: {info["cpu"]}, {info["threads"]} threads; torch {info["torch"]}', flush=True)
    previous = Path(args.out + '.json')
    result = json.loads(previous.read_text()) if previous.is_file() else {}
    if result and result['header']['cpu'] != info['cpu']:
        result = {}  # another machine: start afresh
    result.update(header=info, repeats=args.repeats, onnxruntime=onnxruntime.__version__,
                  sweep=SWEEP, dynamic_timeout_s=args.dynamic_timeout)
    with tempfile.TemporaryDirectory() as workdir:
        # An empty inductor cache: first calls measure compilation, not a cache hit.
        os.environ['TORCHINDUCTOR_CACHE_DIR'] = workdir
        for section in SECTIONS:
            if section in sections:
                result[section] = SECTIONS[section](args, workdir)
                write_report(args.out, result, render)
    return 0


def render(result: dict) -> str:
    lines = ['# Deployment: onnxruntime, torch.compile', '',
             header_line(result['header'], result['repeats']), '',
             'Command: `.venv/bin/python benchmarks/deployment.py` (`--sections` re-measures '
             'some sections and keeps the others).']
    if 'onnx_vs_eager' in result:
        lines += ['', f'## onnxruntime {result["onnxruntime"]} (CPU) vs PyTorch eager', '',
                  'One ONNX file per model, exported at 224x224 with dynamic batch/height/width. '
                  'Batch 1.', '',
                  '| input | model | eager (ms) | onnxruntime (ms) | onnxruntime speed |',
                  '|---|---|---|---|---|']
    for r in result.get('onnx_vs_eager', []):
        lines.append(f'| {r["height"]}x{r["width"]} | {r["model"]} | {r["eager_ms"]:.0f} | '
                     f'{r["onnxruntime_ms"]:.0f} | {r["onnxruntime_speedup"]:.2f}x |')
    if 'bfloat16' in result:
        lines += ['', '## bfloat16 autocast vs float32 (CPU)', '',
                  'Relative error max|bf16 - fp32| / max|fp32| of each output (stages 1-4); '
                  "authors' initialisation, seed 0.", '',
                  '| input | model | finite | stage 1 | stage 2 | stage 3 | stage 4 |',
                  '|---|---|---|---|---|---|---|']
        for r in result['bfloat16']:
            errors = ' | '.join(f'{e:.1e}' for e in r['relative_errors'])
            lines.append(f'| {r["height"]}x{r["width"]} | {r["model"]} | '
                         f'{"yes" if r["finite"] else "no"} | {errors} |')
    if 'graphs_over_sweep' in result:
        sweep = ', '.join(f'{h}x{w}' for h, w in result['sweep'])
        lines += ['', '## Graphs of torch.compile(dynamic=True) over a multi-scale sweep', '',
                  f'Sizes, in this order: {sweep}. BiFormer-T with n_win 16.', '',
                  '| model | sizes | graphs built | max relative difference to eager |',
                  '|---|---|---|---|']
        for r in result['graphs_over_sweep']:
            lines.append(f'| {r["model"]} | {r["sizes"]} | {r["graphs"]} | '
                         f'{r["max_relative_difference"]:.1e} |')
    if result.get('compiled_vs_eager'):
        lines += ['', '## torch.compile(dynamic=False) (inductor, one graph per size) vs eager',
                  '',
                  'First call: the first call at that size, which compiles (empty inductor '
                  'cache).', '',
                  '| input | model | eager (ms) | compiled (ms) | compiled speed | '
                  'first call (s) |',
                  '|---|---|---|---|---|---|']
        for r in result['compiled_vs_eager']:
            lines.append(f'| {r["height"]}x{r["width"]} | {r["model"]} | {r["eager_ms"]:.0f} | '
                         f'{r["compiled_ms"]:.0f} | {r["compiled_speedup"]:.2f}x | '
                         f'{r["first_call_s"]:.0f} |')
    if result.get('dynamic_first_calls'):
        lines += ['', '## torch.compile(dynamic=True), inductor: compilation time', '',
                  'Fresh process, empty inductor cache: first call at 512x512 (compiles), '
                  'second call at 512x512, first call at 333x517.',
                  '',
                  '| model | first call (s) | second call (s) | 333x517 (s) | '
                  'max relative difference to eager |',
                  '|---|---|---|---|---|']
        for r in result['dynamic_first_calls']:
            if r['finished']:
                lines.append(f'| {r["model"]} | {r["first_call_s"]:.0f} | '
                             f'{r["second_call_s"]:.2f} | {r["other_size_s"]:.2f} | '
                             f'{r["max_relative_difference"]:.1e} |')
            else:
                lines.append(f'| {r["model"]} | not finished in {r["limit_s"]:.0f} s | | | |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    sys.exit(main())
