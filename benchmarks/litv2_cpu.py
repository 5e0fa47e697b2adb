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
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
BACKBONE_SHAPES = [(8, 224, 224), (1, 512, 512), (1, 800, 1344)]
LAYER_SHAPES = [(8, 14, 14), (1, 32, 32), (1, 56, 56), (1, 50, 84), (1, 64, 64)]


def build_backbone(name: str):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    import mmvitplug  # noqa: F401
    cfgs = {
        'LITv2-S': dict(type='LITv2', arch='s'),
        'Swin-T': dict(type='SwinTransformer', embed_dims=96, depths=[2, 2, 6, 2],
                       num_heads=[3, 6, 12, 24], window_size=7, mlp_ratio=4, qkv_bias=True,
                       drop_path_rate=0.2, out_indices=(0, 1, 2, 3), convert_weights=False),
        'PVTv2-b2': dict(type='PyramidVisionTransformerV2', embed_dims=64,
                         num_layers=[3, 4, 6, 3]),
    }
    model = MODELS.build(cfgs[name])
    model.eval()
    return model


def build_layer(name: str, dim: int = 384, heads: int = 12):
    from mmdet.models.backbones.pvt import SpatialReductionAttention
    from mmdet.models.backbones.swin import ShiftWindowMSA
    from mmvitplug.models.layers import HiLoAttention
    if name == 'HiLo':
        layer = HiLoAttention(dim, heads, window_size=2, alpha=0.9)
        return layer.eval(), lambda x, hw: layer(x.view(x.shape[0], *hw, dim))
    if name == 'Window (Swin)':
        layer = ShiftWindowMSA(dim, heads, window_size=7, shift_size=0)
        return layer.eval(), lambda x, hw: layer(x, hw)
    if name == 'SRA (PVT)':
        layer = SpatialReductionAttention(dim, heads, sr_ratio=2)
        return layer.eval(), lambda x, hw: layer(x, hw)
    layer = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
    return layer.eval(), lambda x, hw: layer(x, x, x, need_weights=False)[0]


def interleaved_medians(runners: dict, repeats: int) -> dict:
    """Median seconds per call of each runner, calls interleaved round-robin."""
    times = {name: [] for name in runners}
    with torch.no_grad():
        for run in runners.values():  # warm-up
            run()
        for _ in range(repeats):
            for name, run in runners.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def memory_probe(name: str, b: int, h: int, w: int) -> float:
    """Peak-RSS rise (MiB) of one forward pass, measured in a fresh subprocess."""
    out = subprocess.run([sys.executable, __file__, '--probe', name, str(b), str(h), str(w)],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def _status_kib(field: str) -> int:
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def _probe(name: str, b: int, h: int, w: int) -> None:
    model = build_backbone(name)
    x = torch.randn(b, 3, h, w)
    # Reset the peak resident size (VmHWM) to the current one, so that imports and model
    # building do not mask the forward pass's own peak (Linux >= 4.0).
    Path('/proc/self/clear_refs').write_text('5')
    before = _status_kib('VmRSS')
    with torch.no_grad():
        model(x)
    print((_status_kib('VmHWM') - before) / 1024)


def header() -> dict:
    import mmdet
    import mmengine
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return dict(cpu=cpu, threads=torch.get_num_threads(), python=platform.python_version(),
                torch=torch.__version__, mmdet=mmdet.__version__, mmengine=mmengine.__version__)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', default=str(HERE / 'litv2_cpu'), help='output path stem')
    parser.add_argument('--no-memory', action='store_true', help='skip the memory subprocesses')
    parser.add_argument('--probe', nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        _probe(args.probe[0], *map(int, args.probe[1:]))
        return 0

    torch.manual_seed(0)
    info = header()
    print(f'CPU: {info["cpu"]}, {info["threads"]} threads; torch {info["torch"]}, '
          f'mmdet {info["mmdet"]}', flush=True)
    names = ['LITv2-S', 'Swin-T', 'PVTv2-b2']
    models = {n: build_backbone(n) for n in names}
    backbone_rows = []
    for b, h, w in BACKBONE_SHAPES:
        print(f'backbones at {b}x3x{h}x{w} ...', flush=True)
        x = torch.randn(b, 3, h, w)
        medians = interleaved_medians({n: (lambda m=m: m(x)) for n, m in models.items()},
                                      args.repeats)
        for n in names:
            row = dict(model=n, batch=b, height=h, width=w, latency_ms=medians[n] * 1e3,
                       images_per_s=b / medians[n],
                       speedup_vs_swin_t=medians['Swin-T'] / medians[n])
            if not args.no_memory:
                row['peak_mem_mib'] = memory_probe(n, b, h, w)
            backbone_rows.append(row)
    del models

    layer_names = ['HiLo', 'Window (Swin)', 'SRA (PVT)', 'Global']
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
                                   hilo_speedup=medians[n] / medians['HiLo']))

    result = dict(header=info, repeats=args.repeats, backbones=backbone_rows,
                  layers=layer_rows)
    Path(args.out + '.json').write_text(json.dumps(result, indent=2))
    md = render(result)
    Path(args.out + '.md').write_text(md)
    print(md)
    print(f'written: {args.out}.json, {args.out}.md')
    return 0


def render(result: dict) -> str:
    info = result['header']
    lines = [
        '# LITv2 on CPU', '',
        f'Machine: {info["cpu"]}, {info["threads"]} torch threads; Python {info["python"]}, '
        f'torch {info["torch"]}, mmdet {info["mmdet"]}, mmengine {info["mmengine"]}. '
        f'Median of {result["repeats"]} interleaved runs, eval mode, no_grad, float32.', '',
        'Command: `.venv/bin/python benchmarks/litv2_cpu.py`', '',
        '## Backbones', '',
        '| input (BxHxW) | model | latency (ms) | images/s | speed vs Swin-T | peak memory (MiB) |',
        '|---|---|---|---|---|---|'
    ]
    for r in result['backbones']:
        mem = f'{r["peak_mem_mib"]:.0f}' if 'peak_mem_mib' in r else '-'
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["model"]} | '
                     f'{r["latency_ms"]:.0f} | {r["images_per_s"]:.2f} | '
                     f'{r["speedup_vs_swin_t"]:.2f}x | {mem} |')
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
