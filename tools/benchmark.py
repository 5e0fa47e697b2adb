#!/usr/bin/env python
"""Latency, throughput and peak memory of backbones or whole models, side by side.

    python tools/benchmark.py FasterViT-0 BiFormer-T LITv2-S Swin-T --shapes 8x224x224 800x1344
    python tools/benchmark.py CONFIG [--part backbone|model] --shapes 512x512 --backward
    python tools/benchmark.py BiFormer-T Swin-T --device cuda --dtype bf16 --json out.json

Targets: config files (their backbone, or with ``--part model`` the whole model's inference:
``predict`` for detectors and segmentors, logits for classifiers) or backbone names
(FasterViT-0, BiFormer-T, LITv2-S, Swin-T, PVTv2-b2, ConvNeXt-T). Shapes: ``HxW`` (batch
``--batch``) or ``BxHxW``.

Each model gets ``--warmup`` calls, then ``--repeats`` timed calls, models interleaved
round-robin (drift of a shared machine hits all alike); the median is reported, with images/s
and the speed relative to the first target. On CUDA the clock is read after synchronising.
Peak memory: CUDA's peak allocated memory, or on CPU the peak of live tensor memory (one more
call under the profiler). ``--backward`` times forward + backward of the summed outputs (train
mode unless ``--mode eval``). ``--compile`` adds each backbone once more through
``torch.compile`` ("NAME compiled" rows, same interleaving), a static graph per shape
(``--compile-dynamic`` for ``dynamic=True``), with the time of its first call at each shape
(``first_call_s``: the compilation where a new graph is built).
"""
import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Callable, List, Tuple

import torch

from mmvitplug.utils.benchmarking import interleaved_medians, machine_header, peak_tensor_mib
from mmvitplug.utils.named_models import Target, build_target

# The peers' names come from the benchmarks' table (benchmarks/rivals.py), beside ours.
sys.path.append(str(Path(__file__).resolve().parents[1] / 'benchmarks'))
from rivals import NAMED  # noqa: E402

DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


class BenchmarkError(Exception):
    """A request that cannot be run; printed as one line, exit status 2."""


def parse_shape(text: str, batch: int) -> Tuple[int, int, int]:
    try:
        dims = [int(v) for v in text.lower().split('x')]
    except ValueError:
        dims = []
    if len(dims) not in (2, 3) or min(dims) < 1:
        raise argparse.ArgumentTypeError(f'shape {text!r} is not HxW or BxHxW')
    return tuple(dims) if len(dims) == 3 else (batch, *dims)


def _outputs_sum(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out.float().sum()
    if isinstance(out, dict):
        return sum(_outputs_sum(v) for v in out.values())
    return sum(_outputs_sum(v) for v in out)


def model_call(target: Target, part: str, x: torch.Tensor) -> Callable[[], object]:
    """What one benchmarked call runs for ``target`` on input ``x``."""
    if target.cfg is None or part == 'backbone':
        module = target.model if target.cfg is None else target.model.backbone
        return lambda: module(x)
    model, (h, w) = target.model, x.shape[2:]
    if target.scope == 'mmpretrain':
        return lambda: model(x, mode='tensor')
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1.0, 1.0))
    if target.scope == 'mmdet':
        from mmdet.structures import DetDataSample as Sample
    else:
        from mmseg.structures import SegDataSample as Sample
    samples = [Sample(metainfo=meta) for _ in range(x.shape[0])]
    return lambda: model(x, samples, mode='predict')


def prepare(target: Target, part: str, device: str, train: bool,
            channels_last: bool) -> torch.nn.Module:
    module = target.model if (target.cfg is None or part == 'model') else target.model.backbone
    module.to(device)
    if channels_last:
        module.to(memory_format=torch.channels_last)
    module.train(train)
    return module


def run_benchmark(args) -> dict:
    device = args.device
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise BenchmarkError('--device cuda, but no CUDA device is available')
    train = args.backward and args.mode != 'eval' or args.mode == 'train'
    if args.part == 'model' and args.backward:
        raise BenchmarkError('--backward times backbones only (whole models: inference)')
    targets = []
    for name in args.targets:
        try:
            target = build_target(name, NAMED)
        except ValueError as err:
            raise BenchmarkError(str(err)) from None
        if args.part == 'model' and target.cfg is None:
            raise BenchmarkError(f'--part model needs config targets; {name} is a backbone')
        prepare(target, args.part, device, train, args.channels_last)
        targets.append(target)
    if args.compile:
        if args.part == 'model':
            raise BenchmarkError('--compile times backbones (whole models break into many graphs)')
        # One static graph per target and shape: the recompile limit must not send a later
        # shape back to eager (the backbones share their top-level forward code).
        limit = 2 * len(targets) * len(args.shapes) + 8
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, limit)
        for target in list(targets):
            module = target.model if target.cfg is None else target.model.backbone
            targets.append(Target(f'{target.name} compiled',
                                  torch.compile(module, dynamic=args.compile_dynamic,
                                                backend=args.compile_backend),
                                  target.scope, None))
    sync = torch.cuda.synchronize if device.startswith('cuda') else None
    dtype = DTYPES[args.dtype]
    rows = []
    total = len(args.shapes) * len(targets) * args.repeats
    from mmengine.utils import ProgressBar
    bar = ProgressBar(total) if args.progress else None
    for b, h, w in args.shapes:
        x = torch.randn(b, 3, h, w, device=device)
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        calls, first_call = {}, {}
        for target in targets:
            call = model_call(target, args.part, x)
            calls[target.name] = _with_autocast(_with_backward(call, target, args.part)
                                                if args.backward else call, device, dtype)
            if target.name.endswith(' compiled'):  # compile outside the timed calls
                start = time.perf_counter()
                with torch.set_grad_enabled(args.backward):
                    calls[target.name]()
                first_call[target.name] = time.perf_counter() - start
        medians = interleaved_medians(calls, args.repeats, args.warmup, grad=args.backward,
                                      sync=sync, progress=bar.update if bar else None)
        first = medians[targets[0].name]
        for target in targets:
            median = medians[target.name]
            row = dict(target=target.name, part=args.part if target.cfg else 'backbone',
                       batch=b, height=h, width=w, latency_ms=median * 1e3,
                       images_per_s=b / median, speed_vs_first=first / median)
            if target.name in first_call:
                row['first_call_s'] = first_call[target.name]
            if args.memory:
                row['peak_memory_mib'] = _peak_memory(calls[target.name], device, args.backward)
            rows.append(row)
    if bar:
        print()
    settings = dict(device=device, dtype=args.dtype, channels_last=args.channels_last,
                    mode='train' if train else 'eval', backward=args.backward,
                    compile=(f'{args.compile_backend}{" dynamic" if args.compile_dynamic else ""}'
                             if args.compile else None),
                    repeats=args.repeats, warmup=args.warmup)
    return dict(header=machine_header(device), settings=settings, rows=rows)


def _with_backward(call, target: Target, part: str):
    module = target.model if target.cfg is None else target.model.backbone

    def step():
        module.zero_grad(set_to_none=True)
        _outputs_sum(call()).backward()
    return step


def _with_autocast(call, device: str, dtype):
    if dtype is None:
        return call
    device_type = 'cuda' if device.startswith('cuda') else 'cpu'

    def run():
        with torch.autocast(device_type, dtype=dtype):
            return call()
    return run


def _peak_memory(call, device: str, grad: bool) -> float:
    with torch.set_grad_enabled(grad):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            call()
            torch.cuda.synchronize()
            return (torch.cuda.max_memory_allocated() - base) / 2**20
        return peak_tensor_mib(call)


def render(result: dict) -> str:
    s, info = result['settings'], result['header']
    machine = info.get('gpu', info['cpu'])
    lines = [f'{machine}, {info["threads"]} CPU threads; torch {info["torch"]}; {s["device"]}, '
             f'{s["dtype"]}, {s["mode"]} mode, {"forward+backward" if s["backward"] else "forward"}'
             f', channels-last {"on" if s["channels_last"] else "off"}; median of {s["repeats"]}',
             '', '| input (BxHxW) | target | latency (ms) | images/s | speed vs first | '
             'peak memory (MiB) |', '|---|---|---|---|---|---|']
    for r in result['rows']:
        mem = f'{r["peak_memory_mib"]:.0f}' if 'peak_memory_mib' in r else '-'
        name = r['target'] + (' (model)' if r['part'] == 'model' else '')
        if 'first_call_s' in r:
            name += f' (first call {r["first_call_s"]:.0f} s)'

        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {name} | '
                     f'{r["latency_ms"]:.1f} | {r["images_per_s"]:.2f} | '
                     f'{r["speed_vs_first"]:.2f}x | {mem} |')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('targets', nargs='+', help='config files or backbone names: ' +
                        ', '.join(NAMED))
    parser.add_argument('--shapes', nargs='+', default=['224x224'], help='HxW or BxHxW')
    parser.add_argument('--batch', type=int, default=1, help='batch of HxW shapes')
    parser.add_argument('--part', choices=['backbone', 'model'], default='backbone',
                        help='for config targets: the backbone or the whole model')
    parser.add_argument('--backward', action='store_true', help='time forward + backward')
    parser.add_argument('--mode', choices=['eval', 'train'],
                        help='module mode (default: train with --backward, else eval)')
    parser.add_argument('--dtype', choices=sorted(DTYPES), default='fp32',
                        help='autocast dtype (fp32: no autocast)')
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument('--compile', action='store_true',
                        help='also time each backbone through torch.compile (a static graph '
                        'per shape)')
    parser.add_argument('--compile-backend', default='inductor',
                        help='torch.compile backend for --compile (default inductor)')
    parser.add_argument('--compile-dynamic', action='store_true',
                        help='compile with dynamic=True (one graph for all shapes; inductor '
                        'CPU code generation for dynamic shapes can take very long)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--no-memory', dest='memory', action='store_false',
                        help='skip the peak-memory call')
    parser.add_argument('--no-progress', dest='progress', action='store_false')
    parser.add_argument('--json', help='write the results (header, settings, rows) as JSON')
    parser.add_argument('--csv', help='write the rows as CSV')
    args = parser.parse_args(argv)
    try:
        args.shapes = [parse_shape(s, args.batch) for s in args.shapes]
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
    if args.repeats < 1 or args.warmup < 0:
        parser.error('--repeats must be >= 1 and --warmup >= 0')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = run_benchmark(args)
    except BenchmarkError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(render(result))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    if args.csv:
        rows: List[dict] = result['rows']
        with open(args.csv, 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
