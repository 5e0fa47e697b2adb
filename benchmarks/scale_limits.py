#!/usr/bin/env python
"""Scale limits: activation memory and time of one forward pass against input size, up to the
largest input that fits a memory budget, for our backbones and Swin-T.

    .venv/bin/python benchmarks/scale_limits.py            # writes scale_limits.{json,md,png}
    .venv/bin/python benchmarks/scale_limits.py --render   # re-render the md, png from the json

Models: FasterViT-0, BiFormer-T with the authors' COCO region count (n_win 16: regions grow with
the image) and with constant-size regions (8/4/2 tokens per side in stages 1-3), LITv2-S, and
mmdet's Swin-T. Batch 1, eval mode, ``torch.no_grad``, float32, CPU, ``--threads`` torch threads.

Every (model, size) runs in its own child process (``scale_limits.py --child MODEL H W``) that
imports, builds the model and the input, then runs one forward pass and reports:

* activation peak: the peak resident size during the forward pass (VmHWM, reset to the current
  size just before it through ``/proc/self/clear_refs``; ``ru_maxrss`` where that reset is not
  available) minus the resident size after building the model and the input;
* peak RSS: the child's whole peak resident size (imports, weights, input and activations);
* retained: what the forward pass leaves resident after its output is freed (caches);
* the forward pass's wall time.

The parent never starts a child it expects to exceed the budget: sizes run in increasing pixel
order (every model at one size, then the next), and before each one it predicts the child's peak
RSS from the sizes already measured for that model (the larger of a conservative extrapolation
of the growth exponent of the last two sizes and a quadratic fit in pixels; a single point is
extrapolated quadratically) and refuses the size, and all larger ones, where the prediction
exceeds ``--budget-gib`` or the memory the machine has available. The child also runs under a
hard address-space limit (RLIMIT_AS: its virtual size after building plus the budget plus a few
GiB), so an allocation beyond it fails inside the child (recorded as out of memory at the
budget) instead of endangering the machine. A run-time guard refuses sizes the same way where
the forward time, extrapolated quadratically from the last size, would exceed ``--max-seconds``
or what is left of ``--max-total-minutes`` (recorded as such: not a memory limit).
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODELS = ['FasterViT-0', 'BiFormer-T n_win=16', 'BiFormer-T regions 8/4/2', 'LITv2-S', 'Swin-T']
SIZES = [(512, 512), (800, 1344), (1024, 1024), (1536, 1536), (1600, 2666), (2048, 2048),
         (2560, 2560), (3072, 3072), (4096, 4096), (5120, 5120)]
#: Address-space slack of a child above its virtual size after building plus the budget (GiB):
#: room for thread stacks and allocator arenas, so that the limit cuts activations, not threads.
CAP_SLACK_GIB = 3.0
#: Memory left to the rest of the machine when a child starts (GiB).
MACHINE_RESERVE_GIB = 3.0
#: Safety factors of the predictions (memory, time).
MEMORY_MARGIN, TIME_MARGIN = 1.15, 1.3
MIB = 2**20

#: What limits each model at scale, from the code (mmvitplug/models/layers; mmdet's swin.py).
LIMITS = {
    'FasterViT-0': (
        'Conv stages 1-2 and the 7x7 window attention of stages 3-4 are linear in pixels. '
        'The quadratic term is the carrier tokens of stage 3 (2x2 per 7x7 window at stride 16: '
        'one carrier per ~3136 input pixels), which attend globally with a continuous relative '
        'position bias over the whole carrier grid: each of the 6 HAT blocks evaluates a '
        '(8 heads, N, N) float32 bias and (8, N, N) attention logits for its N carriers, next '
        'to a shared (N, N) int64 offset index. Small at detection sizes (N = 384 at 800x1344), '
        'it dominates memory from about 3072x3072 (N = 3136). Eval-mode reuse of the biases '
        '(ResultCache) keeps only tables of at most 2**22 elements (up to about '
        '1344x1344): unbounded, it held 5810 MiB after one 4096x4096 forward (the first run of '
        'this page), now 319 MiB.'),
    'BiFormer-T n_win=16': (
        'A fixed 16x16 region grid: regions grow with the image, so every query attends to '
        'topk (1/4/16 in stages 1-3) regions whose size is proportional to the pixels, and the '
        'stage-4 attention is global: compute is quadratic in pixels. Memory is not: the fused '
        'attention never materialises the logits and the routed keys/values are copied a '
        'bounded chunk of query regions at a time, so activation memory grows at most linearly; '
        'what stops it is time.'),
    'BiFormer-T regions 8/4/2': (
        'Constant-size regions (8/4/2 tokens per side in stages 1-3, i.e. 32x32 input pixels): '
        'token attention is linear in pixels. The region-to-region routing is not: each BRA '
        'block scores all P x P region pairs (float32, P = pixels / 1024, the same P in every '
        'stage) before its top-k, a transient quadratic term (324 MiB at 3072x3072); the global '
        'attention of stage 4 is quadratic in time, linear in memory (fused attention).'),
    'LITv2-S': (
        'Hi-Fi heads attend inside 2x2 windows (linear). The Lo-Fi heads of stage 3 (10 of 12) '
        'attend from every token to the 2x2-pooled map and stage 4 attends globally: both '
        'quadratic in pixels in compute. The fused attention never materialises the logits, so '
        'memory stays linear (the deformable token merging samples 4 taps per output, also '
        'linear); what stops it is time.'),
    'Swin-T': (
        "mmdet's shifted 7x7 window attention (logits materialised per window) and its MLPs: "
        'linear in pixels in memory and time; the largest tensors are those of stage 1 '
        '(the MLP hidden layer, 4 x 96 channels at stride 4, and the per-window logits).'),
}


# ---------------------------------------------------------------------- child process
def _status_kib(field: str) -> int:
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def _reset_peak() -> bool:
    """Reset VmHWM to the current resident size (Linux >= 4.0); False where not possible."""
    try:
        Path('/proc/self/clear_refs').write_text('5')
        return True
    except OSError:
        return False


def _trim() -> None:
    """Return the allocator's free memory to the system (glibc), so that the resident size
    after the forward pass counts what is still alive, not what malloc keeps."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _where(exc: BaseException) -> str:
    """file:line (function) of the innermost frame in our package, else the innermost one."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if 'mmvitplug' in f.filename] or frames
    f = ours[-1] if ours else None
    return '' if f is None else f'{Path(f.filename).name}:{f.lineno} ({f.name})'


def child(name: str, h: int, w: int, budget_gib: float, threads: int) -> dict:
    """Build ``name``, run one no-grad forward pass on a 1x3xhxw input under an address-space
    limit, report memory (MiB) and time."""
    import gc

    import torch
    torch.set_num_threads(threads)
    from common import build_backbone
    torch.manual_seed(0)
    model = build_backbone(name)
    x = torch.randn(1, 3, h, w)
    gc.collect()
    vm_kib = _status_kib('VmSize')
    cap = vm_kib * 1024 + int((budget_gib + CAP_SLACK_GIB) * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    result = dict(baseline_vm_mib=vm_kib / 1024, address_space_cap_mib=cap / MIB)
    before = _status_kib('VmRSS')
    reset = _reset_peak()
    start = time.perf_counter()
    try:
        with torch.no_grad():
            out = model(x)
    except (MemoryError, RuntimeError) as exc:
        message = f'{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}'
        oom = isinstance(exc, MemoryError) or any(
            s in str(exc) for s in ("can't allocate memory", 'Cannot allocate memory',
                                    'bad_alloc', 'out of memory'))
        return dict(result, status='oom' if oom else 'error', error=message, where=_where(exc),
                    seconds=time.perf_counter() - start)
    seconds = time.perf_counter() - start
    peak = _status_kib('VmHWM') if reset else None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del out
    gc.collect()
    _trim()
    after = _status_kib('VmRSS')
    peak = maxrss if peak is None else peak
    return dict(result, status='ok', seconds=seconds, rss_before_mib=before / 1024,
                peak_rss_mib=peak / 1024, activation_mib=(peak - before) / 1024,
                retained_mib=(after - before) / 1024, ru_maxrss_mib=maxrss / 1024,
                peak_from='VmHWM after clear_refs' if reset else 'ru_maxrss')


# ---------------------------------------------------------------------- parent
def _mem_available_mib() -> float:
    for line in Path('/proc/meminfo').read_text().splitlines():
        if line.startswith('MemAvailable:'):
            return int(line.split()[1]) / 1024
    return float('inf')


def _exponent(p0, y0, p1, y1):
    return math.log(y1 / y0) / math.log(p1 / p0) if min(y0, y1) > 0 and p1 != p0 else None


def _pair(points):
    """The largest point and the largest earlier one with at most 1/1.3 of its pixels (sizes
    with nearly equal pixels, e.g. 2048x2048 and 1600x2666, give no usable exponent)."""
    last = points[-1]
    earlier = [p for p in points[:-1] if p[0] * 1.3 <= last[0]]
    return (earlier[-1] if earlier else points[0]), last


def growth(points):
    """Log-log exponent of y against pixels over :func:`_pair`; None with < 2 points."""
    if len(points) < 2:
        return None
    (p0, y0), (p1, y1) = _pair(points)
    return _exponent(p0, y0, p1, y1)


def _spaced(points):
    """The largest point and, going down, each next one with at most 1/1.3 of the pixels of the
    last one kept (increasing order): nearly equal pixel counts would make fits noise."""
    kept = [points[-1]]
    for p in reversed(points[:-1]):
        if p[0] * 1.3 <= kept[-1][0]:
            kept.append(p)
    return kept[::-1]


def predict_memory(points, pixels: int, margin: float = MEMORY_MARGIN):
    """Conservative prediction of the activation peak at ``pixels`` from (pixels, MiB) points
    in increasing order: the larger of the last-pair extrapolation (exponent at least 1; 2 for
    a single point) and a least-squares fit a + b*p + c*p^2 through :func:`_spaced` points
    (three or more), times ``margin``; None without points."""
    if not points:
        return None
    p1, y1 = points[-1]
    k = growth(points)
    k = 2.0 if k is None else max(k, 1.0)
    guesses = [max(y1, 1.0) * (pixels / p1)**k]
    spaced = _spaced(points)
    if len(spaced) >= 3:
        import numpy as np
        p = np.array([q[0] for q in spaced], dtype=float) / 1e6
        y = np.array([q[1] for q in spaced], dtype=float)
        coef = np.linalg.lstsq(np.stack([np.ones_like(p), p, p * p], 1), y, rcond=None)[0]
        guesses.append(float(coef @ np.array([1.0, pixels / 1e6, (pixels / 1e6)**2])))
    return max(guesses) * margin


def predict_seconds(points, pixels: int, margin: float = TIME_MARGIN):
    """Forward time at ``pixels``, extrapolated quadratically from the largest point (times on a
    shared machine are too noisy to fit; quadratic is the worst case of these models)."""
    if not points:
        return None
    p1, t1 = points[-1]
    return t1 * (pixels / p1)**2 * margin


def run_child(name: str, h: int, w: int, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, '--child', name, str(h), str(w),
           '--budget-gib', str(args.budget_gib), '--threads', str(args.threads)]
    start = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=args.max_seconds * 2 + 300)
    except subprocess.TimeoutExpired:
        return dict(status='timeout', error=f'child killed after {args.max_seconds * 2 + 300} s')
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith('RESULT '):
            return dict(json.loads(line[len('RESULT '):]), child_wall_s=time.time() - start)
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return dict(status='crashed', error=f'exit code {proc.returncode}: ' + ' | '.join(tail))


def _check(state: dict, pixels: int, args, started: float):
    """(predicted peak RSS MiB, predicted seconds, refusal reason or None) of the next size."""
    act = predict_memory(state['mem'], pixels)
    if act is None:
        return None, None, None
    peak, sec = state['baseline'] + act, predict_seconds(state['secs'], pixels)
    available = _mem_available_mib() - MACHINE_RESERVE_GIB * 1024
    left = args.max_total_minutes * 60 - (time.time() - started)
    if peak > args.budget_gib * 1024:
        why = f'predicted peak RSS {peak / 1024:.1f} GiB > budget {args.budget_gib:g} GiB'
    elif peak > available:
        why = (f'predicted peak RSS {peak / 1024:.1f} GiB > memory the machine has available '
               f'now ({available / 1024:.1f} GiB)')
    elif sec > args.max_seconds:
        why = (f'run-time guard, not a memory limit: predicted forward time {sec:.0f} s > '
               f'--max-seconds {args.max_seconds:g}')
    elif sec + state['overhead'] > left:
        why = (f'run-time guard, not a memory limit: predicted forward time {sec:.0f} s (plus '
               f'{state["overhead"]:.0f} s to start the process) > the {left:.0f} s left of '
               f'--max-total-minutes {args.max_total_minutes:g}')
    else:
        why = None
    return peak, sec, why


def measure(args, save=None) -> list:
    """Rows of every (model, size), size by size (all models at one size, then the next, so
    that the run-time guard cuts the largest sizes of every model alike); ``save(rows)`` is
    called after each one (a partial json that ``--render`` can show if the run is stopped)."""
    started = time.time()
    states = {n: dict(mem=[], secs=[], baseline=None, overhead=0.0, refused=False)
              for n in args.models}
    rows = []
    for h, w in sorted(args.sizes, key=lambda s: (s[0] * s[1], s)):
        pixels = h * w
        for name in args.models:
            state = states[name]
            row = dict(model=name, height=h, width=w, megapixels=pixels / 1e6)
            if state['refused']:
                row.update(status='not tried', reason='a smaller size was refused')
                rows.append(row)
                continue
            peak, sec, why = _check(state, pixels, args, started)
            if peak is not None:
                row.update(predicted_peak_rss_mib=peak, predicted_seconds=sec)
            if why is not None:
                row.update(status='refused', reason=why)
            else:
                row.update(run_child(name, h, w, args))
                if row['status'] == 'oom':
                    row['reason'] = f'out of memory at the budget: {row["error"]}'
                elif row['status'] != 'ok':
                    row['reason'] = f'{row["status"]}: {row["error"]}'
            if row['status'] == 'ok':
                state['mem'].append((pixels, max(row['activation_mib'], 1.0)))
                state['secs'].append((pixels, row['seconds']))
                state['baseline'] = row['rss_before_mib']
                state['overhead'] = row['child_wall_s'] - row['seconds']
                print(f'{name:26s} {h:5d}x{w:<5d} {pixels / 1e6:6.2f} MP  activation '
                      f'{row["activation_mib"]:8.0f} MiB  peak RSS {row["peak_rss_mib"]:8.0f} MiB'
                      f'  retained {row["retained_mib"]:7.0f} MiB  {row["seconds"]:7.2f} s',
                      flush=True)
            else:
                state['refused'] = True
                print(f'{name:26s} {h:5d}x{w:<5d} {pixels / 1e6:6.2f} MP  {row["status"]}: '
                      f'{row["reason"]}', flush=True)
            row['load_average'] = os.getloadavg()[0]
            rows.append(row)
            if save is not None:
                save(rows)
    return rows


def _slope(points):
    """Least-squares slope of log(y) against log(pixels); None with < 2 points. (Times on a
    shared machine are too noisy for a two-point exponent.)"""
    if len(points) < 2:
        return None
    import numpy as np
    x, y = np.log([p for p, _ in points]), np.log([v for _, v in points])
    return float(np.polyfit(x, y, 1)[0])


def summarise(rows: list, models: list) -> list:
    out = []
    for name in models:
        ok = [r for r in rows if r['model'] == name and r['status'] == 'ok']
        bad = [r for r in rows if r['model'] == name and r['status'] not in ('ok', 'not tried')]
        s = dict(model=name, limit=LIMITS.get(name, ''))
        if ok:
            big = ok[-1]
            s.update(largest=f'{big["height"]}x{big["width"]}', largest_mp=big['megapixels'],
                     largest_activation_mib=big['activation_mib'],
                     largest_peak_rss_mib=big['peak_rss_mib'], largest_seconds=big['seconds'])
            pts = [(r['height'] * r['width'], r) for r in ok]
            if len(pts) >= 2:
                (p0, r0), (p1, r1) = _pair(pts)
                s.update(exponent_between=f'{r0["height"]}x{r0["width"]} and '
                                          f'{r1["height"]}x{r1["width"]}',
                         memory_exponent=_exponent(p0, r0['activation_mib'], p1,
                                                   r1['activation_mib']))
            s['time_exponent'] = _slope([(p, r['seconds']) for p, r in pts if p >= 1e6])
        if bad:
            s.update(first_refused=f'{bad[0]["height"]}x{bad[0]["width"]}',
                     refused_status=bad[0]['status'], refused_reason=bad[0]['reason'])
        out.append(s)
    return out


# ---------------------------------------------------------------------- rendering
def _fmt(value, spec='.0f'):
    return '-' if value is None else format(value, spec)


def _load_note(result: dict) -> str:
    loads = [r['load_average'] for r in result['rows'] if 'load_average' in r]
    if not loads:
        return ''
    return f' (1-minute load average {min(loads):.1f} to {max(loads):.1f} during the run)'


def render(result: dict) -> str:
    info = result['machine']
    lines = [
        '# Scale limits: memory against input size', '',
        f'Machine: {info["cpu"]}, {result["threads"]} torch threads; Python {info["python"]}, '
        f'torch {info["torch"]}, mmdet {info.get("mmdet")}. Batch 1, eval mode, no_grad, '
        f'float32, CPU; one forward pass per (model, size), each in a fresh process. Budget: '
        f'{result["budget_gib"]:g} GiB peak RSS per process (hard address-space cap a few GiB '
        f'above it); run-time guard: {result["max_seconds"]:g} s per forward pass, '
        f'{result.get("max_total_minutes", 25):g} minutes in all. The machine was shared '
        'with other jobs: times are indicative, memory is what this page is about'
        + _load_note(result) + '.', '',
        f'Command: `{result["command"]}`' + (
            f' ({result["wall_s"] / 60:.0f} minutes on this machine).' if 'wall_s' in result
            else ''), '',
        *[f'Re-measured: {r["models"]}, {r["why"]}: `{r["command"]}`.\n'
          for r in result.get('reruns', [])],
        '![activation memory vs megapixels](scale_limits.png)', '',
        '## Summary', '',
        '| model | largest measured | activation peak there (MiB) | peak RSS there (MiB) | '
        'memory exponent | time exponent | first refused | why |',
        '|---|---|---|---|---|---|---|---|']
    for s in result['summary']:
        lines.append(
            f'| {s["model"]} | {s.get("largest", "-")} | {_fmt(s.get("largest_activation_mib"))} '
            f'| {_fmt(s.get("largest_peak_rss_mib"))} | {_fmt(s.get("memory_exponent"), ".2f")} '
            f'| {_fmt(s.get("time_exponent"), ".2f")} | {s.get("first_refused", "none")} | '
            f'{s.get("refused_reason", "every size of the ladder fits")} |')
    pairs = '; '.join(f'{s["model"]}: {s["exponent_between"]}' for s in result['summary']
                      if 'exponent_between' in s)
    lines += ['', 'Memory exponent: log(ratio of activation peaks) / log(ratio of pixels) '
              'between the largest measured size and the largest smaller one with at most 1/1.3 '
              'of its pixels' + (f' ({pairs})' if pairs else '') + '. Time exponent: '
              'least-squares slope of log(forward time) against log(pixels) over the measured '
              'sizes of 1 MP and more (two-point time ratios are noise on a shared machine). '
              '1.0 = linear in pixels, 2.0 = quadratic.']
    if result.get('partial'):
        lines += ['', '**Partial run**: the measurement was stopped before every size was tried.']
    lines += ['', '## What limits each model', '']
    for s in result['summary']:
        lines += [f'- **{s["model"]}**: {s["limit"]}']
    lines += ['', '## Every measurement', '',
              '| model | input (HxW) | pixels (MP) | activation peak (MiB) | peak RSS (MiB) | '
              'retained after (MiB) | forward (s) | status |', '|---|---|---|---|---|---|---|---|']
    order = {n: i for i, n in enumerate(result['models'])}
    for r in sorted(result['rows'], key=lambda r: order.get(r['model'], len(order))):
        if r['status'] == 'ok':
            status = 'ok'
        elif r['status'] == 'refused':
            status = f'refused: {r["reason"]}'
        else:
            status = f'{r["status"]}: {r.get("reason", "")}'
        lines.append(f'| {r["model"]} | {r["height"]}x{r["width"]} | {r["megapixels"]:.2f} | '
                     f'{_fmt(r.get("activation_mib"))} | {_fmt(r.get("peak_rss_mib"))} | '
                     f'{_fmt(r.get("retained_mib"))} | {_fmt(r.get("seconds"), ".2f")} | '
                     f'{status} |')
    lines += ['', 'Activation peak: peak resident size during the forward pass minus the '
              'resident size after building the model and the input (imports, weights and the '
              'input excluded). Peak RSS: the whole process. Retained: resident size after the '
              'forward pass, its output freed and the allocator trimmed (malloc_trim), minus the '
              'same baseline: what the layers keep for the next call. Refused sizes were not run: '
              'the prediction from the smaller sizes of that model exceeded a limit.', '']
    return '\n'.join(lines)


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for i, name in enumerate(result['models']):
        color = f'C{i}'
        ok = [r for r in result['rows'] if r['model'] == name and r['status'] == 'ok']
        if not ok:
            continue
        mp = [r['megapixels'] for r in ok]
        axes[0].plot(mp, [r['activation_mib'] for r in ok], 'o-', color=color, label=name)
        axes[1].plot(mp, [r['seconds'] for r in ok], 'o-', color=color, label=name)
        bad = [r for r in result['rows'] if r['model'] == name and r['status'] not in
               ('ok', 'not tried') and r.get('predicted_peak_rss_mib')]
        if bad:  # the refused size at its predicted activation
            r = bad[0]
            axes[0].plot([ok[-1]['megapixels'], r['megapixels']],
                         [ok[-1]['activation_mib'],
                          r['predicted_peak_rss_mib'] - ok[-1]['rss_before_mib']],
                         'x:', color=color)
    axes[0].axhline(result['budget_gib'] * 1024, color='grey', ls='--', lw=1)
    axes[0].text(0.3, result['budget_gib'] * 1024 * 1.08, f'budget {result["budget_gib"]:g} GiB',
                 color='grey', fontsize=8)
    for ax, ylabel, title in ((axes[0], 'activation peak (MiB)',
                               'activation memory of one forward pass (x: refused, predicted)'),
                              (axes[1], 'forward time (s)', 'forward time (2 cores, indicative)')):
        mps = [r['megapixels'] for r in result['rows']]
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xlim(min(mps) / 1.3, max(mps) * 1.3)
        ax.set_xlabel('input megapixels (log)')
        ax.set_ylabel(ylabel + ' (log)')
        ax.set_title(title, fontsize=10)
        ax.grid(True, which='both', alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f'written: {path}')


def _size(text: str):
    h, _, w = text.lower().partition('x')
    return int(h), int(w or h)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=MODELS,
                        help=f'backbones of benchmarks/common.py (default: {" ".join(MODELS)})')
    parser.add_argument('--sizes', nargs='+', type=_size, default=SIZES, metavar='HxW',
                        help='input sizes, e.g. 512x512 800x1344 (run in increasing pixels)')
    parser.add_argument('--budget-gib', type=float, default=12.0,
                        help='peak RSS allowed to one measurement process (GiB)')
    parser.add_argument('--max-seconds', type=float, default=240.0,
                        help='refuse sizes whose predicted forward time exceeds this')
    parser.add_argument('--max-total-minutes', type=float, default=25.0,
                        help='refuse sizes whose predicted time exceeds what is left of this')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--render', action='store_true',
                        help='only re-render the md and png from the json')
    parser.add_argument('--out', default=str(HERE / 'scale_limits'),
                        help='output prefix (.json, .md, .png)')
    parser.add_argument('--child', nargs=3, metavar=('MODEL', 'H', 'W'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, h, w = args.child
        try:
            result = child(name, int(h), int(w), args.budget_gib, args.threads)
        except MemoryError as exc:  # while building, under the cap
            result = dict(status='oom', error=f'MemoryError: {exc}', where=_where(exc))
        print('RESULT ' + json.dumps(result), flush=True)
        return 0
    from common import write_report
    if args.render:
        result = json.loads(Path(args.out + '.json').read_text())
        result['summary'] = summarise(result['rows'], result['models'])
    else:
        import torch

        from mmvitplug.utils.benchmarking import machine_header
        torch.set_num_threads(args.threads)
        flags = [f'--budget-gib {args.budget_gib:g}']
        if args.models != MODELS:
            flags.append('--models ' + ' '.join(f"'{m}'" for m in args.models))
        if args.sizes != SIZES:
            flags.append('--sizes ' + ' '.join(f'{h}x{w}' for h, w in args.sizes))
        if args.max_seconds != 240.0:
            flags.append(f'--max-seconds {args.max_seconds:g}')
        if args.max_total_minutes != 25.0:
            flags.append(f'--max-total-minutes {args.max_total_minutes:g}')
        if args.threads != 2:
            flags.append(f'--threads {args.threads}')
        start = time.time()
        result = dict(machine=machine_header(), threads=args.threads,
                      command=' '.join(['.venv/bin/python benchmarks/scale_limits.py'] + flags),
                      budget_gib=args.budget_gib, max_seconds=args.max_seconds,
                      max_total_minutes=args.max_total_minutes,
                      cap_slack_gib=CAP_SLACK_GIB, models=args.models,
                      sizes=[list(s) for s in args.sizes])
        json_path = Path(args.out + '.json')

        def save(rows):
            json_path.write_text(json.dumps(dict(result, rows=rows, partial=True), indent=2))

        result['rows'] = measure(args, save)
        result['wall_s'] = time.time() - start
        result['summary'] = summarise(result['rows'], args.models)
    write_report(args.out, result, render)
    plot(result, args.out + '.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
