#!/usr/bin/env python
"""The benchmark report: our three backbones against Swin-T, ConvNeXt-T and PVTv2-b2, measured in
one run, plus parameters/FLOPs and attention layers side by side.

    .venv/bin/python benchmarks/report.py            # measure: writes benchmarks/report.json,
                                                     # then renders the pages and the plots
    .venv/bin/python benchmarks/report.py --render   # re-render pages + plots from the JSON

Measured (CPU unless ``--device cuda``; eval mode, no_grad, float32, batch 1 unless stated;
median of ``--repeats`` calls after one warm-up, all models interleaved round-robin per size):

1. backbones at classification and dense sizes, and over a sweep of sizes from 224x224 to
   1344x800 and 2048x512 (latency vs pixels; log-log slope between 512x512 and 1344x800),
   with the peak of live tensor memory of one call;
2. parameters and FLOPs (1 multiply-add = 1 FLOP, ``mmvitplug.utils.complexity``) of each
   backbone at 224x224 with an ImageNet head, against the papers' numbers;
3. attention layers at equal width and heads (384 channels, 12 heads) over feature-map sizes;
4. with ``--authors DIR`` (local clones of the authors' repositories, see ``authors.py``): each of
   our three against the authors' implementation of the same configuration, holding the same
   weights, at 224x224 batch 1 and 8, 512x512 and 800x1344. Without it the report has no such
   section (and ``--render`` keeps the one in ``report.json``).

The manual's benchmarks page (``docs/en/benchmarks.md``) is re-rendered from the new page
(``benchmarks/docs_tables.py``).

BiFormer-T uses the authors' region count for the size (n_win 7 at 224x224, 8 up to
512x512 pixels, 16 beyond: their ImageNet, ADE20K and COCO settings); "BiFormer-T r8/4/2" is the
region-size policy (regions of 8/4/2 tokens in stages 1-3) at every size.
"""
import argparse
import json
import math
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import build_for_size as build, build_layer  # noqa: E402
from docs_tables import profile_text  # noqa: E402
from rivals import NAMED  # noqa: E402

from mmvitplug.utils.benchmarking import interleaved_medians, machine_header, peak_tensor_mib  # noqa: E402,E501
from mmvitplug.utils.complexity import count_macs, parameter_count  # noqa: E402

OURS = ['FasterViT-0', 'BiFormer-T', 'BiFormer-T r8/4/2', 'LITv2-S']
PEERS = ['Swin-T', 'ConvNeXt-T', 'PVTv2-b2']
MODELS = OURS + PEERS
# The papers' ImageNet-1K numbers at 224x224: (parameters in M, GFLOPs).
PAPERS = {'FasterViT-0': (31.4, 3.3), 'BiFormer-T': (13.1, 2.2), 'LITv2-S': (28.0, 3.7),
          'Swin-T': (28.3, 4.5), 'ConvNeXt-T': (28.6, 4.5), 'PVTv2-b2': (25.4, 4.0)}
STANDARD = [(8, 224, 224), (1, 512, 512), (1, 800, 1344), (1, 512, 2048)]
SWEEP = [(1, 224, 224), (1, 320, 320), (1, 448, 448), (1, 512, 512), (1, 640, 640),
         (1, 800, 1344), (1, 1024, 1024), (1, 512, 2048)]
AUTHORS_SHAPES = [(1, 224, 224), (8, 224, 224), (1, 512, 512), (1, 800, 1344)]
LAYERS = ['HAT (FasterViT)', 'BRA (BiFormer)', 'HiLo (LITv2)', 'Window (Swin)', 'SRA (PVT)',
          'Global']
LAYER_SHAPES = [(8, 14, 14), (1, 32, 32), (1, 50, 84), (1, 64, 64), (1, 32, 128)]


def measure_backbones(shapes, repeats: int) -> list:
    rows = []
    for b, h, w in shapes:
        print(f'backbones at {b}x3x{h}x{w} ...', flush=True)
        models = {n: build(n, h, w) for n in MODELS}
        x = torch.randn(b, 3, h, w)
        medians = interleaved_medians({n: (lambda m=m: m(x)) for n, m in models.items()},
                                      repeats)
        for n, model in models.items():
            with torch.no_grad():
                memory = peak_tensor_mib(lambda: model(x))
            rows.append(dict(model=n, batch=b, height=h, width=w, latency_ms=medians[n] * 1e3,
                             images_per_s=b / medians[n], peak_tensor_mib=memory))
    return rows


def measure_complexity() -> list:
    rows = []
    for n in MODELS:
        # As a classifier's backbone: the last stage only, with its final norm.
        model = build(n, 224, 224, out_indices=(3, ))
        x = torch.randn(1, 3, 224, 224)
        with torch.no_grad():
            macs = count_macs(model, lambda: model(x))
            width = model(x)[-1].shape[1]  # the input of an ImageNet head
        params = parameter_count(model)[0]
        rows.append(dict(model=n, backbone_params=params,
                         classifier_params=params + width * 1000 + 1000,
                         backbone_gflops=macs[''] / 1e9, head_gflops=width * 1000 / 1e9,
                         paper=PAPERS.get(n)))
    return rows


def measure_layers(repeats: int) -> list:
    layers = {n: build_layer(n) for n in LAYERS}
    rows = []
    for b, h, w in LAYER_SHAPES:
        print(f'attention layers at {b}x{h}x{w}x384 ...', flush=True)
        x = torch.randn(b, h * w, 384)
        runners = {n: (lambda fn=fn: fn(x, (h, w))) for n, (_, fn) in layers.items()}
        medians = interleaved_medians(runners, repeats)
        for n in LAYERS:
            with torch.no_grad():
                memory = peak_tensor_mib(runners[n])
            rows.append(dict(layer=n, batch=b, height=h, width=w, latency_ms=medians[n] * 1e3,
                             peak_tensor_mib=memory))
    return rows


def latency(rows, model, h, w, b=1):
    return next(r['latency_ms'] for r in rows
                if (r['model'], r['batch'], r['height'], r['width']) == (model, b, h, w))


def slopes(sweep: list) -> dict:
    """Log-log slope of latency against pixels from 512x512 to 1344x800."""
    return {n: math.log(latency(sweep, n, 800, 1344) / latency(sweep, n, 512, 512)) /
            math.log(800 * 1344 / (512 * 512)) for n in MODELS}


# ---------------------------------------------------------------------- rendering
def plot(result: dict) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5))
    for n in MODELS:
        pts = sorted((r['height'] * r['width'], r['latency_ms']) for r in result['sweep']
                     if r['model'] == n)
        ax.loglog(*zip(*pts), marker='o' if n in OURS else 's',
                  linestyle='-' if n in OURS else '--', label=n)
    ax.set_xlabel('pixels (H x W), batch 1')
    ax.set_ylabel('latency (ms)')
    ax.set_title(f'Backbone latency vs input size ({_machine(result)})', fontsize=9)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / 'latency_vs_pixels.png', dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    params = {r['model']: r['backbone_params'] / 1e6 for r in result['complexity']}
    for n in MODELS:
        thr = next(r['images_per_s'] for r in result['standard']
                   if r['model'] == n and r['batch'] == 8)
        ax.scatter(params[n], thr, marker='o' if n in OURS else 's', s=50)
        ax.annotate(n, (params[n], thr), textcoords='offset points', fontsize=8,
                    xytext=(5, -12 if 'r8' in n else 4))
    ax.set_xlabel('backbone parameters (M)')
    ax.set_ylabel('images/s at 8x224x224')
    ax.set_title(f'Throughput vs parameters ({_machine(result)})', fontsize=9)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(HERE / 'throughput_vs_params.png', dpi=110)
    plt.close(fig)


def _machine(result: dict) -> str:
    info = result['header']
    return f'{info.get("gpu", info["cpu"])}, {info["threads"]} threads'


def render(result: dict) -> str:
    info, repeats = result['header'], result['repeats']
    std = result['standard']
    lines = [
        '# Benchmarks', '',
        f'Machine: {info.get("gpu", info["cpu"])}, {info["threads"]} torch threads; Python '
        f'{info["python"]}, torch {info["torch"]}, mmdet {info.get("mmdet")}, mmpretrain '
        f'{info.get("mmpretrain")}. Eval mode, no_grad, float32; median of {repeats} calls '
        'after one warm-up, models interleaved round-robin. All numbers from one run of:', '',
        '    ' + result.get('command', '.venv/bin/python benchmarks/report.py'), '',
        profile_text(info) + '.', '',
        'Re-render this page and the plots from `report.json`: '
        '`.venv/bin/python benchmarks/report.py --render`. Every benchmark of the project, '
        'with its machine: `docs/en/benchmarks.md`.', '',
        'No GPU was available to this run; the tables are CPU only.', '',
        '## Backbones at classification and dense sizes', '',
        '| input (BxHxW) | model | latency (ms) | images/s | vs Swin-T | vs ConvNeXt-T | '
        'vs PVTv2-b2 | peak tensor memory (MiB) |', '|---|---|---|---|---|---|---|---|']
    for r in std:
        b, h, w = r['batch'], r['height'], r['width']
        vs = [latency(std, p, h, w, b) / r['latency_ms'] for p in PEERS]
        lines.append(f'| {b}x{h}x{w} | {r["model"]} | {r["latency_ms"]:.0f} | '
                     f'{r["images_per_s"]:.2f} | ' + ' | '.join(f'{v:.2f}x' for v in vs) +
                     f' | {r["peak_tensor_mib"]:.0f} |')
    lines += ['', '## Latency vs pixels', '', '![latency vs pixels](latency_vs_pixels.png)', '',
              '| model | ' + ' | '.join(f'{h}x{w}' for _, h, w in SWEEP) +
              ' | slope 512x512 to 1344x800 |', '|---' * (len(SWEEP) + 2) + '|']
    for n in MODELS:
        lines.append(f'| {n} | ' + ' | '.join(
            f'{latency(result["sweep"], n, h, w):.0f}' for _, h, w in SWEEP) +
            f' | {result["slopes"][n]:.2f} |')
    lines += ['', 'Latency in ms, batch 1. Slope: log-log slope of latency against pixels '
              '(1.0 = linear).', '',
              '## Parameters and FLOPs at 224x224', '',
              '![throughput vs params](throughput_vs_params.png)', '',
              '| model | backbone params (M) | backbone GFLOPs | + ImageNet head: params (M) | '
              'paper: params (M) / GFLOPs |', '|---|---|---|---|---|']
    for r in result['complexity']:
        paper = '-' if r['paper'] is None else f'{r["paper"][0]} / {r["paper"][1]}'
        lines.append(f'| {r["model"]} | {r["backbone_params"] / 1e6:.2f} | '
                     f'{r["backbone_gflops"]:.2f} | {r["classifier_params"] / 1e6:.1f} | '
                     f'{paper} |')
    lines += ['', result['notes']['complexity'], '',
              '## Attention layers (384 channels, 12 heads)', '',
              '| feature map (BxHxW) | layer | latency (ms) | peak tensor memory (MiB) |',
              '|---|---|---|---|']
    for r in result['layers']:
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["layer"]} | '
                     f'{r["latency_ms"]:.2f} | {r["peak_tensor_mib"]:.1f} |')
    lines += ['', result['notes']['layers'], '']
    if result.get('authors'):
        from authors import table
        lines += ['## Against the authors\' implementations', '',
                  'Ours and theirs built with the same options for the size, holding the same '
                  'weights (theirs random-initialised, converted to ours with our converters); '
                  'both compared on one seeded input before timing. ' + result['notes']['authors'],
                  ''] + table(result['authors']) + ['']
    return '\n'.join(lines)


NOTES = dict(
    complexity=(
        'Backbones as a classifier uses them (last stage with its final norm) at 224x224; FLOPs '
        'count one multiply-add as one FLOP, attention products included; the ImageNet head '
        '(the "+ head" parameters: a 1000-class linear layer on the last stage) adds under '
        '0.001 GFLOPs. FasterViT-0 counts 0.19 GFLOPs above its paper: its position '
        'MLPs (continuous relative bias and absolute position MLP, 0.13 GFLOPs here) are '
        'evaluated on the coordinate grid at every forward pass and counted, and so are the '
        'attention products; the paper\'s count leaves such terms out.'),
    authors=(
        'FasterViT: at 224x224 the released fixed-resolution model; elsewhere the authors\' '
        'any-resolution model built for the size, which is not the same function where a map '
        'is padded (its window attention attends to the zero padding, unmasked) or the carrier '
        'grid is not square (it drops the carriers\' position MLP). LITv2: the authors\' '
        'classifier reshapes maps as squares, so at dense sizes the peer is their detection '
        'backbone (four outputs; ours: the classifier trunk). LITv2\'s CUDA deformable '
        'convolution is replaced by torchvision\'s for the measurement. Stage 4 / logits: '
        'what was compared.'),
    layers=(
        'HAT: a FasterViT HAT block without its MLP (carrier-token attention, then window '
        'attention, window 7, over each window\'s carriers and tokens, position MLPs); BRA: '
        'bi-level routing attention with regions of 2x2 tokens, top-16 (BiFormer stage 3 at '
        '224); HiLo: window 2, alpha 0.9; Window: mmdet ShiftWindowMSA, window 7, no shift; '
        'SRA: mmdet SpatialReductionAttention, ratio 2; Global: torch MultiheadAttention.'),
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--render', action='store_true',
                        help='only re-render the pages and the plots from report.json')
    parser.add_argument('--authors', metavar='DIR',
                        help='folder with clones of the authors\' repositories (FasterViT/, '
                        'BiFormer/, LITv2/): adds ours vs theirs')
    args = parser.parse_args(argv)
    peers = None
    if args.authors and not args.render:
        from authors import AuthorsModels
        peers = AuthorsModels(args.authors)  # fail before measuring anything
    out = HERE / 'report.json'
    if not args.render:
        torch.manual_seed(0)
        command = '.venv/bin/python benchmarks/report.py' + (
            ' --authors DIR' if args.authors else '')
        result = dict(header=machine_header(), repeats=args.repeats, models=MODELS, command=command,
                      named=sorted(NAMED))
        result['standard'] = measure_backbones(STANDARD, args.repeats)
        result['sweep'] = measure_backbones(SWEEP, args.repeats)
        result['slopes'] = slopes(result['sweep'])
        result['complexity'] = measure_complexity()
        result['layers'] = measure_layers(args.repeats)
        if peers is not None:
            from authors import measure
            result['authors'] = measure(peers, AUTHORS_SHAPES, args.repeats)
        out.write_text(json.dumps(result, indent=2))
    result = json.loads(out.read_text())
    result['notes'] = NOTES
    plot(result)
    (HERE / 'README.md').write_text(render(result))
    print(render(result))
    import docs_tables
    docs_tables.main([])
    return 0


if __name__ == '__main__':
    sys.exit(main())
