#!/usr/bin/env python
"""Plug-in attention benchmark: our HAT, BRA and HiLo plug-ins against mmcv's plug-ins, as
modules and inside a ResNet-50.

    .venv/bin/python benchmarks/plugins.py     # writes benchmarks/plugins.{json,md,png}

1. Modules on the feature maps of a 800x1344 image at strides 8, 16 and 32 with ResNet-50's
   c3-c5 widths (512, 1024, 2048 channels; batch 1): latency, peak tensor memory, parameters
   and multiply-adds of ``HATAttention2d``, ``BiLevelRoutingAttention2d`` (n_win 16, as in the
   COCO configs), ``HiLoAttention2d`` and mmcv's ``GeneralizedAttention`` (mmdet's
   empirical-attention setting: key content only, '0010', kv_stride 2, 8 heads),
   ``NonLocal2d`` (embedded Gaussian, reduction 2) and ``ContextBlock`` (ratio 1/4, GCNet r4),
   interleaved per map. Our plug-ins use their defaults otherwise (one head per 64 channels).
2. mmdet's ResNet-50 at 1x3x800x1344 without and with plug-ins, interleaved: ours as in
   ``configs/plugins/`` (after conv2 of every c3-c5 bottleneck), mmcv's as in mmdet's configs
   (GCNet r4 after conv3 of c3-c5, empirical attention 0010 after conv2 of c4-c5).

Eval mode, no_grad, float32. Multiply-adds as ``tools/get_flops.py`` counts them
(:mod:`mmvitplug.utils.complexity`: convolutions, linears, matrix and attention products).
"""
import argparse
import gc
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import header_line, macs_and_medians, write_report  # noqa: E402

IMAGE = (800, 1344)
STRIDES = {8: 512, 16: 1024, 32: 2048}  # stride -> ResNet-50 width (c3, c4, c5)
OURS = ('HATAttention2d', 'BiLevelRoutingAttention2d', 'HiLoAttention2d')
OURS_CFG = {'HATAttention2d': {}, 'BiLevelRoutingAttention2d': dict(n_win=16),
            'HiLoAttention2d': {}}
MMCV_CFG = {
    'GeneralizedAttention': dict(spatial_range=-1, num_heads=8, attention_type='0010',
                                 kv_stride=2),
    'NonLocal2d': dict(),
    'ContextBlock': dict(ratio=1. / 4),
}
# Whole-network rows: name -> ResNet ``plugins`` (None: the plain network).
NETWORKS = {
    'ResNet-50': None,
    **{f'+ {n}': [dict(cfg=dict(type=n, **OURS_CFG[n]), stages=(False, True, True, True),
                       position='after_conv2')] for n in OURS},
    '+ ContextBlock (GCNet r4, c3-c5)': [
        dict(cfg=dict(type='ContextBlock', ratio=1. / 4), stages=(False, True, True, True),
             position='after_conv3')],
    '+ GeneralizedAttention (0010, c4-c5)': [
        dict(cfg=dict(type='GeneralizedAttention', **MMCV_CFG['GeneralizedAttention']),
             stages=(False, False, True, True), position='after_conv2')],
}


def build_module(name: str, channels: int) -> torch.nn.Module:
    from mmcv.cnn import build_plugin_layer
    cfg = dict(OURS_CFG.get(name, MMCV_CFG.get(name)), type=name)
    torch.manual_seed(0)
    module = build_plugin_layer(cfg, in_channels=channels)[1].eval()
    if name in OURS:  # a trained scale: the branch is computed either way
        with torch.no_grad():
            module.gamma1.fill_(1.0)
    return module


def build_network(plugins) -> torch.nn.Module:
    from mmdet.models.backbones import ResNet
    torch.manual_seed(0)
    net = ResNet(depth=50, plugins=plugins)
    net.eval()  # (mmdet's ResNet.train returns None)
    return net


def measure(models: dict, x: torch.Tensor, repeats: int) -> list:
    """One row per model: latency, peak tensor memory, parameters, multiply-adds."""
    from mmvitplug.utils.benchmarking import peak_tensor_mib
    from mmvitplug.utils.complexity import parameter_count
    macs, medians = macs_and_medians(models, x, repeats)
    rows = []
    for name, model in models.items():
        with torch.no_grad():
            peak = peak_tensor_mib(lambda: model(x))
        rows.append(dict(model=name, latency_ms=medians[name] * 1e3, peak_tensor_mib=peak,
                         params_m=parameter_count(model)[0] / 1e6, gmacs=macs[name] / 1e9))
    return rows


def module_rows(repeats: int) -> list:
    import mmvitplug  # noqa: F401  (registers our plug-ins)
    from mmvitplug.models.layers.geometry import ceil_div
    rows = []
    for stride, channels in STRIDES.items():
        h, w = (ceil_div(s, stride) for s in IMAGE)
        print(f'modules at 1x{channels}x{h}x{w} (stride {stride}) ...', flush=True)
        models = {n: build_module(n, channels) for n in (*OURS, *MMCV_CFG)}
        x = torch.randn(1, channels, h, w)
        for row in measure(models, x, repeats):
            rows.append(dict(row, stride=stride, channels=channels, height=h, width=w))
        del models
        gc.collect()
    return rows


def network_rows(repeats: int) -> list:
    import mmvitplug  # noqa: F401
    print(f'ResNet-50 with plug-ins at 1x3x{IMAGE[0]}x{IMAGE[1]} ...', flush=True)
    models = {n: build_network(p) for n, p in NETWORKS.items()}
    rows = measure(models, torch.randn(1, 3, *IMAGE), repeats)
    plain = rows[0]
    for row in rows:
        row['latency_vs_plain'] = row['latency_ms'] / plain['latency_ms']
        row['gmacs_vs_plain'] = row['gmacs'] / plain['gmacs']
    return rows


def render(result: dict) -> str:
    lines = ['# Plug-in attention modules', '', header_line(result['machine'], result['repeats']),
             '', 'Command: `.venv/bin/python benchmarks/plugins.py`', '',
             f'## Modules on the c3-c5 maps of a {IMAGE[0]}x{IMAGE[1]} image (batch 1)', '',
             '| stride | map (CxHxW) | module | latency (ms) | peak tensor memory (MiB) | '
             'params (M) | GMACs |', '|---|---|---|---|---|---|---|']
    for r in result['modules']:
        lines.append(f'| {r["stride"]} | {r["channels"]}x{r["height"]}x{r["width"]} | '
                     f'{r["model"]} | {r["latency_ms"]:.1f} | {r["peak_tensor_mib"]:.0f} | '
                     f'{r["params_m"]:.2f} | {r["gmacs"]:.2f} |')
    lines += ['', f'## mmdet ResNet-50 at 1x3x{IMAGE[0]}x{IMAGE[1]}', '',
              'Ours after conv2 of every c3-c5 bottleneck (13 plug-ins, as `configs/plugins/`); '
              "mmcv's as mmdet's GCNet and empirical-attention configs place them.", '',
              '| network | latency (ms) | vs plain | peak tensor memory (MiB) | params (M) | '
              'GMACs | GMACs vs plain |', '|---|---|---|---|---|---|---|']
    for r in result['networks']:
        lines.append(f'| {r["model"]} | {r["latency_ms"]:.0f} | {r["latency_vs_plain"]:.2f}x | '
                     f'{r["peak_tensor_mib"]:.0f} | {r["params_m"]:.1f} | {r["gmacs"]:.1f} | '
                     f'{r["gmacs_vs_plain"]:.2f}x |')
    return '\n'.join(lines) + '\n'


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(dict.fromkeys(r['model'] for r in result['modules']))
    strides = sorted({r['stride'] for r in result['modules']})
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [next(r['latency_ms'] for r in result['modules']
                       if r['model'] == name and r['stride'] == s) for s in strides]
        axes[0].bar([j + i * width for j in range(len(strides))], values, width, label=name)
    axes[0].set_xticks([j + 0.4 - width / 2 for j in range(len(strides))])
    axes[0].set_xticklabels([f'stride {s} ({STRIDES[s]} ch)' for s in strides])
    axes[0].set_yscale('log')
    axes[0].set_ylabel('latency (ms, log)')
    axes[0].set_title(f'plug-in modules, maps of a {IMAGE[0]}x{IMAGE[1]} image')
    axes[0].legend(fontsize=8)
    nets = result['networks']
    axes[1].barh([r['model'] for r in nets][::-1], [r['latency_ms'] for r in nets][::-1])
    axes[1].set_xlabel('latency (ms)')
    axes[1].set_title(f'ResNet-50 at {IMAGE[0]}x{IMAGE[1]}')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f'written: {path}')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', default=str(HERE / 'plugins'),
                        help='output prefix (.json, .md, .png)')
    args = parser.parse_args(argv)
    from mmvitplug.utils.benchmarking import machine_header
    result = dict(machine=machine_header(), repeats=args.repeats,
                  modules=module_rows(args.repeats), networks=network_rows(args.repeats))
    write_report(args.out, result, render)
    plot(result, args.out + '.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
