"""Helpers shared by the benchmark scripts: model builders, backbone tables, peak memory of one
forward pass in a fresh subprocess (timing and the machine header come from
:mod:`mmvitplug.utils.benchmarking`)."""
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import torch

from mmvitplug.testing import use_gather_all_routing
from mmvitplug.utils.benchmarking import interleaved_medians, peak_tensor_mib
from mmvitplug.utils.named_models import build_named_backbone
from rivals import NAMED

# name -> (OpenMMLab scope whose registry builds it, config[, function applied to the model]):
# ours and the rivals (rivals.py), and the BiFormer variants below
BACKBONES = dict(NAMED)


for _n in (7, 8, 16):
    BACKBONES[f'BiFormer-T n_win={_n}'] = ('mmdet', dict(type='BiFormer', arch='tiny', n_win=_n))
    BACKBONES[f'BiFormer-T n_win={_n} gather-all'] = (
        'mmdet', dict(type='BiFormer', arch='tiny', n_win=_n), use_gather_all_routing)
BACKBONES['BiFormer-T regions 8/4/2'] = ('mmdet', dict(type='BiFormer', arch='tiny',
                                                       region_size=(8, 4, 2)))


def biformer_n_win(h: int, w: int) -> int:
    """The region count per side the BiFormer authors use at an h x w input."""
    return 7 if h * w <= 224 * 224 else 8 if h * w <= 512 * 512 else 16


def build_backbone(name: str, **overrides) -> torch.nn.Module:
    """A backbone of :data:`BACKBONES` in eval mode, config keys replaced by ``overrides``."""
    scope, cfg, *prepare = BACKBONES[name]
    return build_named_backbone(name, scope, dict(cfg, **overrides), tuple(prepare))


def build_for_size(name: str, h: int, w: int, **overrides) -> torch.nn.Module:
    """Backbone ``name`` for an h x w input: "BiFormer-T" gets the region count the authors use
    at that size, "BiFormer-T r8/4/2" the region-size policy; the rest as
    :func:`build_backbone`."""
    if name == 'BiFormer-T':
        name = f'BiFormer-T n_win={biformer_n_win(h, w)}'
    elif name == 'BiFormer-T r8/4/2':
        name = 'BiFormer-T regions 8/4/2'
    return build_backbone(name, **overrides)


def build_layer(name: str, dim: int = 384, heads: int = 12):
    """An attention layer and ``fn(x, (h, w))`` running it on (B, h*w, dim) tokens.

    HAT (FasterViT): a HAT block without its MLP, with carrier tokens (window 7, 2x2 carriers
    per window, initialised from the map); BRA (BiFormer): regions of 2x2 tokens, top-16;
    HiLo (LITv2): window 2, alpha 0.9; Window (Swin): mmdet ShiftWindowMSA, window 7, no
    shift; SRA (PVT): mmdet SpatialReductionAttention, ratio 2; Global: MultiheadAttention.
    """
    from mmdet.models.backbones.pvt import SpatialReductionAttention
    from mmdet.models.backbones.swin import ShiftWindowMSA

    from mmvitplug.models.layers import (BiLevelRoutingAttention, CarrierTokenInit, HATBlock,
                                         HiLoAttention)

    def on_map(layer):
        return lambda x, hw: layer(x.view(x.shape[0], *hw, dim))

    if name == 'HAT (FasterViT)':
        block, carrier_init = HATBlock(dim, heads, with_carriers=True), CarrierTokenInit(dim, 7, 2)
        block.mlp = torch.nn.Identity()
        layer = torch.nn.ModuleList([block, carrier_init]).eval()

        def run(x, hw):
            x = x.view(x.shape[0], *hw, dim)
            return block(x, carrier_init(x.permute(0, 3, 1, 2)), 7)
        return layer, run
    if name == 'BRA (BiFormer)':
        layer = BiLevelRoutingAttention(dim, heads, topk=16, n_win=None, region_size=2).eval()
        return layer, on_map(layer)
    if name == 'HiLo (LITv2)':
        layer = HiLoAttention(dim, heads, window_size=2, alpha=0.9).eval()
        return layer, on_map(layer)
    if name == 'Window (Swin)':
        layer = ShiftWindowMSA(dim, heads, window_size=7, shift_size=0).eval()
        return layer, lambda x, hw: layer(x, hw)
    if name == 'SRA (PVT)':
        layer = SpatialReductionAttention(dim, heads, sr_ratio=2).eval()
        return layer, lambda x, hw: layer(x, hw)
    if name == 'Global':
        layer = torch.nn.MultiheadAttention(dim, heads, batch_first=True).eval()
        return layer, lambda x, hw: layer(x, x, x, need_weights=False)[0]
    raise KeyError(f'unknown attention layer {name!r}')


def macs_and_medians(models: dict, x: torch.Tensor, repeats: int,
                     extra: dict = None) -> Tuple[dict, dict]:
    """Multiply-adds of each model's call on ``x`` (as ``tools/get_flops.py`` counts them) and
    median seconds per call of each model and each ``extra`` runner, all in one interleaved
    round-robin (eval, no_grad)."""
    from mmvitplug.utils.complexity import count_macs
    with torch.no_grad():
        macs = {n: count_macs(m, lambda m=m: m(x))[''] for n, m in models.items()}
    runners = {n: (lambda m=m: m(x)) for n, m in models.items()}
    medians = interleaved_medians(dict(runners, **(extra or {})), repeats)
    return macs, medians


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


def command_line(script: str, argv=None) -> str:
    """The command that ran ``benchmarks/<script>`` with ``argv`` (default: this process's
    arguments), for the tables' "Command:" line."""
    args = sys.argv[1:] if argv is None else list(argv)
    return ' '.join(['python', f'benchmarks/{script}', *args])


def write_report(out: str, result: dict, render) -> None:
    """Write ``OUT.json`` (the measurements) and ``OUT.md`` (``render(result)``); print it."""
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
