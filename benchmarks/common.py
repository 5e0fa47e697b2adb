"""Helpers shared by the benchmark scripts: model builders, interleaved timing, peak memory of
one forward pass in a fresh subprocess, and the machine/software header."""
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict

import torch

SWIN_T = dict(type='SwinTransformer', embed_dims=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
              window_size=7, mlp_ratio=4, qkv_bias=True, drop_path_rate=0.2,
              out_indices=(0, 1, 2, 3), convert_weights=False)
# name -> (OpenMMLab scope whose registry builds it, config)
BACKBONES = {
    'FasterViT-0': ('mmdet', dict(type='FasterViT', arch='0')),
    'LITv2-S': ('mmdet', dict(type='LITv2', arch='s')),
    'Swin-T': ('mmdet', SWIN_T),
    'PVTv2-b2': ('mmdet', dict(type='PyramidVisionTransformerV2', embed_dims=64,
                               num_layers=[3, 4, 6, 3])),
    'ConvNeXt-T': ('mmpretrain', dict(type='ConvNeXt', arch='tiny', out_indices=(0, 1, 2, 3),
                                      gap_before_final_norm=False)),
}


def build_backbone(name: str) -> torch.nn.Module:
    """A backbone of :data:`BACKBONES` in eval mode."""
    import importlib

    import mmvitplug  # noqa: F401  (registers our backbones)
    scope, cfg = BACKBONES[name]
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model = registry.build(dict(cfg))
    model.eval()  # separately: mmdet's SwinTransformer.train() returns None
    return model


def interleaved_medians(runners: Dict[str, Callable[[], object]], repeats: int) -> dict:
    """Median seconds per call of each runner after one warm-up, calls interleaved
    round-robin so that drift of the (shared) machine hits all alike."""
    times = {name: [] for name in runners}
    with torch.no_grad():
        for run in runners.values():
            run()
        for _ in range(repeats):
            for name, run in runners.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def backbone_rows(names, shapes, repeats: int, memory: bool = True) -> list:
    """Latency, throughput, speed relative to Swin-T (which must be in ``names``) and optional
    peak memory of each backbone at each (batch, height, width), interleaved per shape."""
    models = {n: build_backbone(n) for n in names}
    rows = []
    for b, h, w in shapes:
        print(f'backbones at {b}x3x{h}x{w} ...', flush=True)
        x = torch.randn(b, 3, h, w)
        medians = interleaved_medians({n: (lambda m=m: m(x)) for n, m in models.items()},
                                      repeats)
        for n in names:
            row = dict(model=n, batch=b, height=h, width=w, latency_ms=medians[n] * 1e3,
                       images_per_s=b / medians[n],
                       speedup_vs_swin_t=medians['Swin-T'] / medians[n])
            if memory:
                row['peak_mem_mib'] = memory_probe(n, b, h, w)
            rows.append(row)
    return rows


def backbone_table(rows: list) -> list:
    """Markdown lines of :func:`backbone_rows`' table."""
    lines = ['| input (BxHxW) | model | latency (ms) | images/s | speed vs Swin-T | '
             'peak memory (MiB) |', '|---|---|---|---|---|---|']
    for r in rows:
        mem = f'{r["peak_mem_mib"]:.0f}' if 'peak_mem_mib' in r else '-'
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["model"]} | '
                     f'{r["latency_ms"]:.0f} | {r["images_per_s"]:.2f} | '
                     f'{r["speedup_vs_swin_t"]:.2f}x | {mem} |')
    return lines


def memory_probe(name: str, b: int, h: int, w: int) -> float:
    """Peak-RSS rise (MiB) of one no-grad forward pass of backbone ``name``, measured in a
    fresh subprocess (Linux)."""
    out = subprocess.run([sys.executable, __file__, name, str(b), str(h), str(w)],
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


def write_report(out: str, result: dict, render) -> None:
    """Write ``OUT.json`` (the measurements) and ``OUT.md`` (``render(result)``), print the table."""
    import json
    Path(out + '.json').write_text(json.dumps(result, indent=2))
    md = render(result)
    Path(out + '.md').write_text(md)
    print(md)
    print(f'written: {out}.json, {out}.md')


def header_line(info: dict, repeats: int) -> str:
    return (f'Machine: {info["cpu"]}, {info["threads"]} torch threads; Python {info["python"]}, '
            f'torch {info["torch"]}, mmdet {info["mmdet"]}, mmengine {info["mmengine"]}. '
            f'Median of {repeats} interleaved runs, eval mode, no_grad, float32.')


if __name__ == '__main__':  # memory probe subprocess: NAME B H W
    _probe(sys.argv[1], *map(int, sys.argv[2:5]))
