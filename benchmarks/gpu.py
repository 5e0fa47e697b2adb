#!/usr/bin/env python
"""One-shot check of the three backbones on a GPU machine: mixed precision, throughput against
Swin-T, training memory with and without gradient checkpointing, host-to-device copies, and
``torch.compile`` against eager.

    python benchmarks/gpu.py                 # on a CUDA machine: writes benchmarks/gpu.{json,md}
    python benchmarks/gpu.py --smoke --out /tmp/gpu   # tiny sizes, any device (CI, on CPU)

Needs only torch, torchvision, mmengine and mmvitplug (the device machines carry no mm
toolbox); the peer is torchvision's Swin-T (its feature stages, the backbone mmdet's Swin-T
config builds). Sections:

* precision: fp16 and bf16 autocast against float32 at 800x1344, finite and within 3e-2: the
  eval outputs (largest difference over the largest float32 magnitude) and a training step
  (its loss, and its whole gradient: |g - g32| / |g32|; fp16 with a ``GradScaler``); the exit
  status is 1 outside the tolerance (``--smoke``: only where a value is not finite);
* throughput (images/s, eval, the device's autocast dtype on CUDA, float32 on CPU) at 224
  (batch 64), 512 and 800x1344 (batch 1), each backbone and Swin-T timed in interleaved rounds,
  ratios to Swin-T in the same run;
* peak memory of a training step (forward + backward, batch 2 at 800x1344) with and without
  ``with_cp`` (CUDA only: ``torch.cuda.max_memory_allocated``);
* host-to-device copies per eval forward (CUDA profiler ``Memcpy HtoD`` events; 0 means every
  table the model builds from the input's geometry is made on the device);
* ``torch.compile`` (inductor; ``--smoke``: the ``eager`` backend, a path check) against eager
  at 512x512.
The whole run takes a few minutes on one GPU (at most 8).
"""
import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

from mmvitplug.utils.deployment import relative_difference

HERE = Path(__file__).resolve().parent
TOLERANCE = 3e-2
FULL = dict(precision=(800, 1344), throughput=[(64, 224, 224), (1, 512, 512), (1, 800, 1344)],
            memory=(2, 800, 1344), compile=(1, 512, 512), rounds=5)
SMOKE = dict(precision=(128, 192), throughput=[(2, 32, 32), (1, 64, 64)],
             memory=(1, 64, 96), compile=(1, 64, 64), rounds=2)


def backbones(with_cp: bool = False) -> dict:
    """Name -> builder of each family's default variant, with the authors' initialisation
    (PyTorch's default initialisation of the same layers makes a network whose outputs react
    to round-off far more than a trained one's)."""
    from mmvitplug.models import BiFormer, FasterViT, LITv2

    def initialised(build):
        def make():
            model = build()
            model.init_weights()
            return model
        return make

    return {'FasterViT-0': initialised(lambda: FasterViT('0', with_cp=with_cp)),
            'BiFormer-T': initialised(lambda: BiFormer('tiny', n_win=16, with_cp=with_cp)),
            'LITv2-S': initialised(lambda: LITv2('s', with_cp=with_cp))}


def swin_t():
    from torchvision.models import swin_t
    return swin_t().features  # its four stages, channels-last maps


def _outputs(model, x):
    out = model(x)
    return [o.float() for o in (out if isinstance(out, (tuple, list)) else [out])]


def _train_step(model, x, dtype, device):
    """Loss and flattened gradient of one step (fp16: scaled, then unscaled, as AMP trains).

    The loss is the squared distance of the outputs to fixed random targets: the outputs are
    normalised, so a loss of the outputs alone (their mean square) would be constant and its
    gradient round-off."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)  # the same drop-path draws in every step
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        outs = _outputs(model, x)
    generator = torch.Generator(device).manual_seed(0)
    loss = sum((o - torch.randn(o.shape, generator=generator, device=device)).pow(2).mean()
               for o in outs)
    scaler.scale(loss).backward()
    if scaler.is_enabled():
        scaler.unscale_(torch.optim.SGD(model.parameters(), lr=0.0))
    grads = torch.cat([p.grad.float().flatten() for p in model.parameters()
                       if p.grad is not None])
    return float(loss.detach()), grads


def precision(device, size) -> list:
    rows = []
    x = torch.randn(1, 3, *size, device=device)
    dtypes = (torch.float16, torch.bfloat16)
    for name, build in backbones().items():
        torch.manual_seed(0)
        model = build().to(device).eval()
        # Eval first: a training forward moves the BatchNorm statistics the eval outputs use.
        with torch.no_grad():
            reference = _outputs(model, x)
            diffs = {}
            for dtype in dtypes:
                with torch.autocast(device.type, dtype=dtype):
                    outs = _outputs(model, x)
                diffs[dtype] = (all(bool(torch.isfinite(o).all()) for o in outs),
                                max(relative_difference(o, r) for o, r in zip(outs, reference)))
        model.train()
        ref_loss, ref_grad = _train_step(model, x, None, device)
        for dtype in dtypes:
            loss, grad = _train_step(model, x, dtype, device)
            finite, diff = diffs[dtype]
            finite = finite and math.isfinite(loss) and bool(torch.isfinite(grad).all())
            # the loss, and the gradient as a whole (|g - g32| / |g32|)
            step = max(abs(loss - ref_loss) / abs(ref_loss),
                       float((grad - ref_grad).norm() / ref_grad.norm()))
            rows.append(dict(model=name, dtype=str(dtype).split('.')[-1], size=list(size),
                             eval_rel_diff=diff, step_rel_diff=step, finite=finite,
                             ok=finite and diff <= TOLERANCE and step <= TOLERANCE))
        del model
    return rows


def _time(fn, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(device, shapes, rounds) -> list:
    dtype = torch.float16 if device.type == 'cuda' else None
    builders = dict(backbones(), **{'Swin-T': swin_t})
    rows = []
    for batch, h, w in shapes:
        x = torch.randn(batch, 3, h, w, device=device)
        models = {n: b().to(device).eval() for n, b in builders.items()}

        def run(model):
            with torch.no_grad(), torch.autocast(device.type, dtype=dtype or torch.float32,
                                                 enabled=dtype is not None):
                model(x)

        for model in models.values():
            run(model)  # warm-up (cached tables, cudnn algorithms)
        medians = {n: [] for n in models}
        for _ in range(rounds):  # interleaved: drift hits all alike
            for n, model in models.items():
                medians[n].append(_time(lambda m=model: run(m), 1))
        images = {n: batch / statistics.median(t) for n, t in medians.items()}
        for n in builders:
            rows.append(dict(model=n, shape=f'{batch}x{h}x{w}', images_per_s=images[n],
                             vs_swin_t=images[n] / images['Swin-T']))
        del models
    return rows


def memory(device, shape) -> list:
    if device.type != 'cuda':
        return []
    batch, h, w = shape
    x = torch.randn(batch, 3, h, w, device=device)
    rows = []
    for with_cp in (False, True):
        for name, build in backbones(with_cp).items():
            model = build().to(device).train()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            with torch.autocast('cuda', dtype=torch.bfloat16):
                loss = sum(o.float().mean() for o in _outputs(model, x))
            loss.backward()
            torch.cuda.synchronize()
            rows.append(dict(model=name, with_cp=with_cp, shape=f'{batch}x{h}x{w}',
                             peak_mib=(torch.cuda.max_memory_allocated() - base) / 2**20))
            del model, loss
            torch.cuda.empty_cache()
    return rows


def host_copies(device, shape) -> list:
    if device.type != 'cuda':
        return []
    from torch.profiler import ProfilerActivity, profile
    batch, h, w = shape
    x = torch.randn(batch, 3, h, w, device=device)
    rows = []
    for name, build in backbones().items():
        model = build().to(device).eval()
        with torch.no_grad():
            model(x)  # tables cached by the first call are not counted
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                model(x)
                torch.cuda.synchronize()
        copies = sum(1 for e in prof.events() if 'HtoD' in e.name)
        rows.append(dict(model=name, shape=f'{batch}x{h}x{w}', host_to_device_copies=copies))
    return rows


def compiled(device, shape, rounds, backend) -> list:
    batch, h, w = shape
    x = torch.randn(batch, 3, h, w, device=device)
    rows = []
    names = list(backbones()) if backend == 'inductor' else ['FasterViT-0']
    for name in names:
        model = backbones()[name]().to(device).eval()
        fast = torch.compile(model, backend=backend, dynamic=False)
        with torch.no_grad():
            eager_out, compiled_out = _outputs(model, x), _outputs(fast, x)  # compiles here
            eager = _time(lambda: model(x), rounds)
            comp = _time(lambda: fast(x), rounds)
        rows.append(dict(model=name, backend=backend, shape=f'{batch}x{h}x{w}',
                         speedup=eager / comp,
                         rel_diff=max(relative_difference(a, b) for a, b in zip(compiled_out, eager_out))))
    return rows


def render(report: dict) -> str:
    lines = [f'# GPU check ({report["device"]})', '',
             f'`{report["command"]}`; torch {report["torch"]}; {report["minutes"]:.1f} min.', '',
             f'## Mixed precision (within {TOLERANCE} of float32)', '',
             '| backbone | dtype | eval diff | training-step diff | finite | ok |',
             '|---|---|---|---|---|---|']
    lines += [f'| {r["model"]} | {r["dtype"]} | {r["eval_rel_diff"]:.2e} | '
              f'{r["step_rel_diff"]:.2e} | {r["finite"]} | {r["ok"]} |'
              for r in report['precision']]
    lines += ['', '## Throughput (images/s, eval)', '', '| backbone | shape | images/s | vs Swin-T |',
              '|---|---|---|---|']
    lines += [f'| {r["model"]} | {r["shape"]} | {r["images_per_s"]:.1f} | '
              f'{r["vs_swin_t"]:.2f}x |' for r in report['throughput']]
    if report['memory']:
        lines += ['', '## Peak memory of a training step (bf16 autocast)', '',
                  '| backbone | with_cp | shape | MiB |', '|---|---|---|---|']
        lines += [f'| {r["model"]} | {r["with_cp"]} | {r["shape"]} | {r["peak_mib"]:.0f} |'
                  for r in report['memory']]
    if report['host_copies']:
        lines += ['', '## Host-to-device copies per eval forward', '',
                  '| backbone | shape | copies |', '|---|---|---|']
        lines += [f'| {r["model"]} | {r["shape"]} | {r["host_to_device_copies"]} |'
                  for r in report['host_copies']]
    lines += ['', '## torch.compile vs eager', '', '| backbone | backend | shape | speedup | diff |',
              '|---|---|---|---|---|']
    lines += [f'| {r["model"]} | {r["backend"]} | {r["shape"]} | {r["speedup"]:.2f}x | '
              f'{r["rel_diff"]:.1e} |' for r in report['compile']]
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--smoke', action='store_true', help='tiny sizes (a path check)')
    parser.add_argument('--out', default=str(HERE / 'gpu'),
                        help='output path without extension (.json and .md are written)')
    args = parser.parse_args(argv)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    sizes = SMOKE if args.smoke else FULL
    start = time.time()
    report = dict(device=(torch.cuda.get_device_name(0) if device.type == 'cuda' else 'CPU'),
                  torch=torch.__version__, smoke=args.smoke,
                  command='python benchmarks/gpu.py' + (' --smoke' if args.smoke else ''))
    steps = [('precision', lambda: precision(device, sizes['precision'])),
             ('throughput', lambda: throughput(device, sizes['throughput'], sizes['rounds'])),
             ('memory', lambda: memory(device, sizes['memory'])),
             ('host_copies', lambda: host_copies(device, sizes['throughput'][-1])),
             ('compile', lambda: compiled(device, sizes['compile'], sizes['rounds'],
                                          'eager' if args.smoke else 'inductor'))]
    for name, step in steps:
        print(f'[gpu.py {time.time() - start:5.0f} s] {name} ...', flush=True)
        report[name] = step()
    report['minutes'] = (time.time() - start) / 60
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(report, indent=1))
    out.with_suffix('.md').write_text(render(report))
    print(render(report))
    # The tolerance holds at 800x1344; --smoke's maps are a few windows wide, where one
    # rounding moves a larger share of the output, so it only checks that the values are finite.
    failed = [r for r in report['precision'] if not (r['finite'] if args.smoke else r['ok'])]
    if failed:
        print(f'mixed precision {"not finite" if args.smoke else f"outside {TOLERANCE}"}: ' +
              ', '.join(f'{r["model"]} {r["dtype"]}' for r in failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
