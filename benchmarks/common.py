"""Helpers shared by the benchmark scripts: model builders, interleaved timing, peak memory of
one forward pass in a fresh subprocess, and the machine/software header."""
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Tuple

import torch

SWIN_T = dict(type='SwinTransformer', embed_dims=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
              window_size=7, mlp_ratio=4, qkv_bias=True, drop_path_rate=0.2,
              out_indices=(0, 1, 2, 3), convert_weights=False)
# name -> (OpenMMLab scope whose registry builds it, config[, function applied to the model])
BACKBONES = {
    'FasterViT-0': ('mmdet', dict(type='FasterViT', arch='0')),
    'LITv2-S': ('mmdet', dict(type='LITv2', arch='s')),
    'Swin-T': ('mmdet', SWIN_T),
    'PVTv2-b2': ('mmdet', dict(type='PyramidVisionTransformerV2', embed_dims=64,
                               num_layers=[3, 4, 6, 3])),
    'ConvNeXt-T': ('mmpretrain', dict(type='ConvNeXt', arch='tiny', out_indices=(0, 1, 2, 3),
                                      gap_before_final_norm=False)),
}


def _gather_all(model: torch.nn.Module) -> None:
    """Route BiFormer's attention the authors' way (all routed K/V copied at once)."""
    for module in model.modules():
        if hasattr(module, 'gather_all'):
            module.gather_all = True


for _n in (7, 8, 16):
    BACKBONES[f'BiFormer-T n_win={_n}'] = ('mmdet', dict(type='BiFormer', arch='tiny', n_win=_n))
    BACKBONES[f'BiFormer-T n_win={_n} gather-all'] = (
        'mmdet', dict(type='BiFormer', arch='tiny', n_win=_n), _gather_all)
BACKBONES['BiFormer-T regions 8/4/2'] = ('mmdet', dict(type='BiFormer', arch='tiny',
                                                       region_size=(8, 4, 2)))


def build_backbone(name: str) -> torch.nn.Module:
    """A backbone of :data:`BACKBONES` in eval mode."""
    import importlib

    import mmvitplug  # noqa: F401  (registers our backbones)
    scope, cfg, *prepare = BACKBONES[name]
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model = registry.build(dict(cfg))
    for fn in prepare:
        fn(model)
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
                row['peak_mem_mib'], row['peak_tensor_mib'] = memory_probe(n, b, h, w)
            rows.append(row)
    return rows


def backbone_table(rows: list) -> list:
    """Markdown lines of :func:`backbone_rows`' table."""
    lines = ['| input (BxHxW) | model | latency (ms) | images/s | speed vs Swin-T | '
             'peak memory (MiB) | peak tensor memory (MiB) |', '|---|---|---|---|---|---|---|']
    for r in rows:
        mem, tensors = (f'{r[k]:.0f}' if k in r else '-'
                        for k in ('peak_mem_mib', 'peak_tensor_mib'))
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["model"]} | '
                     f'{r["latency_ms"]:.0f} | {r["images_per_s"]:.2f} | '
                     f'{r["speedup_vs_swin_t"]:.2f}x | {mem} | {tensors} |')
    return lines


def memory_probe(name: str, b: int, h: int, w: int) -> Tuple[float, float]:
    """Memory of one no-grad forward pass of backbone ``name`` in a fresh subprocess (Linux):
    the rise of the peak resident size (MiB; includes what the allocator keeps), and the peak of
    live tensor memory (MiB; what the computation holds at once, allocator-independent)."""
    out = subprocess.run([sys.executable, __file__, name, str(b), str(h), str(w)],
                         capture_output=True, text=True, check=True).stdout
    rss, tensors = out.strip().splitlines()[-1].split()
    return float(rss), float(tensors)


def peak_tensor_mib(fn: Callable[[], object]) -> float:
    """Peak of live CPU tensor memory (MiB) during ``fn()``, from the profiler's allocation
    events (allocations and frees in time order)."""
    from torch.autograd import DeviceType
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == '[memory]' and e.device_type() == DeviceType.CPU)
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak / 2**20


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
        rss = (_status_kib('VmHWM') - before) / 1024
        tensors = peak_tensor_mib(lambda: model(x))
    print(rss, tensors)


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
