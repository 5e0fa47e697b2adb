#!/usr/bin/env python
"""Where each backbone's time goes: the profiler's self time of every op, summed by kind.

    .venv/bin/python benchmarks/op_profile.py         # writes benchmarks/op_profile.{json,md}
    .venv/bin/python benchmarks/op_profile.py --shapes 1x224x224 --models LITv2-S Swin-T

Eval forward (no_grad, float32; ``--train``: a training step, forward + backward) under
``torch.profiler`` after two warm-up calls, ``--repeats``
profiled calls per model; every op's *self* time (so that nothing is counted twice) goes to one
kind: matrix products (GEMMs: ``addmm``, ``mm``, ``bmm``, oneDNN's linear), convolutions,
fused attention kernels and softmax, data movement (copies, concatenation, indexing, padding,
gathers), normalisation, element-wise ops, top-k selection, and the rest. A backbone near the
machine's limit spends its time in the first two kinds; what is left is what an implementation
could still remove. BiFormer-T uses the authors' region count for the size.
"""
import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import build_for_size, command_line, header_line, write_report  # noqa: E402

from mmvitplug.utils.benchmarking import machine_header  # noqa: E402

MODELS = ['FasterViT-0', 'BiFormer-T', 'LITv2-S', 'Swin-T', 'ConvNeXt-T']
SHAPES = ['1x800x1344']
# kind -> substrings of profiler op names (first match wins, in this order)
KINDS = {
    'GEMM': ('addmm', 'aten::mm', 'aten::bmm', '_linear_pointwise', 'aten::baddbmm'),
    'conv': ('convolution', 'conv2d', 'deform_conv'),
    'attention': ('scaled_dot_product', 'softmax'),
    'data movement': ('copy_', 'aten::cat', 'index', 'gather', 'scatter', 'pad', 'clone',
                      'aten::roll', 'aten::masked_fill', 'aten::fill_', 'aten::zero_'),
    'normalisation': ('layer_norm', 'batch_norm', 'group_norm'),
    'element-wise': ('aten::add', 'aten::mul', 'aten::sub', 'aten::div', 'gelu', 'relu',
                     'sigmoid', 'aten::exp', 'aten::sum', 'aten::mean', 'pool', 'aten::neg'),
    'top-k': ('topk', 'sort'),
}
OTHER = 'other (dispatch, views, allocation)'


def kind_of(op: str) -> str:
    for kind, needles in KINDS.items():
        if any(n in op for n in needles):
            return kind
    return OTHER


def profile(model: torch.nn.Module, x: torch.Tensor, repeats: int, train: bool = False) -> dict:
    """Milliseconds per call in each kind (``train``: a training step's forward + backward of
    the summed outputs, as ``benchmarks/training_step.py`` times it)."""
    from torch.profiler import ProfilerActivity

    def call():
        if not train:
            return model(x)
        model.zero_grad(set_to_none=True)
        sum(o.float().sum() for o in model(x)).backward()

    model.train(train)
    with torch.set_grad_enabled(train):
        for _ in range(2):
            call()
        with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(repeats):
                call()
    kinds = dict.fromkeys([*KINDS, OTHER], 0.0)
    for event in prof.key_averages():
        kinds[kind_of(event.key)] += event.self_cpu_time_total / 1e3 / repeats
    return kinds


def measure(models, shapes, repeats: int, train: bool = False) -> list:
    rows = []
    for shape in shapes:
        b, h, w = (int(v) for v in shape.split('x'))
        x = torch.randn(b, 3, h, w)
        for name in models:
            print(f'profiling {name} at {b}x3x{h}x{w} ...', flush=True)
            kinds = profile(build_for_size(name, h, w), x, repeats, train)
            rows.append(dict(model=name, batch=b, height=h, width=w, ms=kinds,
                             total_ms=sum(kinds.values())))
    return rows


def render(result: dict) -> str:
    kinds = [*KINDS, OTHER]
    header = header_line(result['machine'], result['repeats']).replace(
        'Median of', 'Profiler self time, mean of').replace('interleaved runs', 'calls')
    if result.get('train'):
        header = header.replace('eval mode, no_grad', 'train mode, forward + backward')
    lines = ['# Where the time goes (op profile)', '', header,
             'Command: `' + result['command'] + '`.', '',
             '| input (BxHxW) | model | total (ms) | ' + ' | '.join(kinds) + ' |',
             '|---' * (len(kinds) + 3) + '|']
    for r in result['rows']:
        cells = [f'{r["ms"][k]:.0f} ({r["ms"][k] / r["total_ms"]:.0%})' for k in kinds]
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["model"]} | '
                     f'{r["total_ms"]:.0f} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=MODELS)
    parser.add_argument('--shapes', nargs='+', default=SHAPES, metavar='BxHxW')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--train', action='store_true',
                        help='profile a training step (train mode, forward + backward)')
    parser.add_argument('--out', default=str(HERE / 'op_profile'))
    args = parser.parse_args(argv)
    write_report(args.out, dict(machine=machine_header(), repeats=args.repeats,
                                command=command_line('op_profile.py', argv),
                                train=args.train,
                                rows=measure(args.models, args.shapes, args.repeats,
                                             args.train)), render)
    return 0


if __name__ == '__main__':
    sys.exit(main())
