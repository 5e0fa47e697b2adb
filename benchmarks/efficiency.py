#!/usr/bin/env python
"""How close each backbone runs to the machine's limit: achieved multiply-adds per second
against the float32 GEMM peak measured in the same run.

    .venv/bin/python benchmarks/efficiency.py            # writes benchmarks/efficiency.{json,md}
    .venv/bin/python benchmarks/efficiency.py --shapes 1x224x224 --repeats 3 --out /tmp/eff

Multiply-adds are what ``tools/get_flops.py`` counts at each shape
(:func:`mmvitplug.utils.complexity.count_macs`: convolutions, linear layers, matmuls and the
attention products; element-wise work, normalisation and data movement count as nothing, so
they show up as lost efficiency). Each backbone's eval forward (no_grad, float32) and a
square float32 matmul (the peak) are timed in one interleaved round-robin, so that a shared
machine's drift hits all alike; the fraction is (backbone MACs / its median time) over
(GEMM MACs / GEMM median time), the faster of MKL's (``torch.mm``) and oneDNN's GEMM: on AMD
CPUs MKL's float32 GEMM runs at about half of oneDNN's. BiFormer-T uses the authors' region
count for the size (7 / 8 / 16 per side).
"""
import argparse
import statistics
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import (build_for_size, command_line, header_line, macs_and_medians,  # noqa: E402
                    write_report)

from mmvitplug.utils.benchmarking import gemm_runners, machine_header  # noqa: E402

OURS = ('FasterViT-0', 'BiFormer-T', 'LITv2-S')
PEERS = ('Swin-T', 'ConvNeXt-T', 'PVTv2-b2')
SHAPES = ['1x224x224', '8x224x224', '1x512x512', '1x800x1344']
#: the column names of :func:`~mmvitplug.utils.benchmarking.gemm_runners`' libraries
GEMMS = {'mkl': 'torch.mm (MKL)', 'onednn': 'oneDNN GEMM'}


def measure(shapes, repeats: int, gemm_size: int) -> dict:
    gemms = {GEMMS[g]: run for g, run in gemm_runners(gemm_size).items()}
    gemm_macs = gemm_size**3
    rows = []
    for shape in shapes:
        batch, h, w = (int(v) for v in shape.split('x'))
        print(f'{batch}x3x{h}x{w}: counting and timing {len(OURS + PEERS)} backbones ...',
              flush=True)
        x = torch.randn(batch, 3, h, w)
        models = {n: build_for_size(n, h, w) for n in OURS + PEERS}
        macs, medians = macs_and_medians(models, x, repeats, extra=gemms)
        gemm_rates = {g: gemm_macs / medians[g] / 1e9 for g in gemms}
        peak = max(gemm_rates.values())
        for n in OURS + PEERS:
            rate = macs[n] / medians[n] / 1e9
            rows.append(dict(model=n, batch=batch, height=h, width=w, gmacs=macs[n] / 1e9,
                             latency_ms=medians[n] * 1e3, gmac_per_s=rate,
                             gemm_gmac_per_s=gemm_rates, peak_gmac_per_s=peak,
                             fraction_of_peak=rate / peak))
        del models
    return rows


def render(result: dict) -> str:
    lines = ['# Efficiency: achieved multiply-adds per second vs the float32 GEMM peak', '',
             header_line(result['machine'], result['repeats']),
             f'Peak: the faster of two {result["gemm_size"]}x{result["gemm_size"]} float32 '
             'matrix products (`torch.mm`, which runs MKL, and oneDNN\'s GEMM, which our '
             'inference linear layers run), timed in the same interleaving as the backbones. '
             'Command: `' + result['command'] + '`.', '',
             '| input (BxHxW) | model | GMACs | latency (ms) | GMAC/s | GEMM GMAC/s: ' +
             ' / '.join(GEMMS.values()) + ' | fraction of peak |', '|---|---|---|---|---|---|---|']
    for r in result['rows']:
        gemm = ' / '.join(f'{r["gemm_gmac_per_s"][g]:.0f}' for g in GEMMS.values())
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["model"]} | '
                     f'{r["gmacs"]:.2f} | {r["latency_ms"]:.0f} | {r["gmac_per_s"]:.1f} | '
                     f'{gemm} | {r["fraction_of_peak"]:.0%} |')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--shapes', nargs='+', default=SHAPES, metavar='BxHxW')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--gemm-size', type=int, default=2048)
    parser.add_argument('--out', default=str(HERE / 'efficiency'))
    args = parser.parse_args(argv)
    rows = measure(args.shapes, args.repeats, args.gemm_size)
    command = command_line('efficiency.py', argv)
    # The run's GEMM profile: the median of the GEMMs timed beside the backbones.
    profile = {g: statistics.median(r['gemm_gmac_per_s'][name] for r in rows)
               for g, name in GEMMS.items() if name in rows[0]['gemm_gmac_per_s']}
    machine = dict(machine_header(gemm=False), gemm_gmac_per_s=profile)
    write_report(args.out, dict(machine=machine, repeats=args.repeats,
                                gemm_size=args.gemm_size, command=command, rows=rows), render)
    return 0


if __name__ == '__main__':
    sys.exit(main())
