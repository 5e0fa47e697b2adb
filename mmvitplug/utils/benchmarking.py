"""Timing and memory measurement for benchmarking scripts (the repository's
``tools/benchmark.py`` and ``benchmarks/`` use it): interleaved medians, peak tensor memory, a
machine/software header with the machine's float32 GEMM profile."""
import platform
import statistics
import time
from importlib import import_module
from pathlib import Path
from typing import Callable, Dict, Optional

import torch

__all__ = ['interleaved_medians', 'peak_tensor_mib', 'machine_header', 'gemm_runners',
           'gemm_profile']

#: Side of the square float32 products of :func:`gemm_runners`.
GEMM_SIZE = 2048


def interleaved_medians(runners: Dict[str, Callable[[], object]], repeats: int,
                        warmup: int = 1, grad: bool = False,
                        sync: Optional[Callable[[], None]] = None,
                        progress: Optional[Callable[[], None]] = None) -> Dict[str, float]:
    """Median seconds per call of each runner after ``warmup`` calls each, calls interleaved
    round-robin so that drift of a shared machine hits all alike.

    Args:
        grad: run with autograd enabled (for forward + backward runners).
        sync: called before reading the clock (``torch.cuda.synchronize`` on GPUs).
        progress: called after every timed call.
    """
    sync = sync or (lambda: None)
    times = {name: [] for name in runners}
    with torch.set_grad_enabled(grad):
        for run in runners.values():
            for _ in range(warmup):
                run()
        for _ in range(repeats):
            for name, run in runners.items():
                sync()
                start = time.perf_counter()
                run()
                sync()
                times[name].append(time.perf_counter() - start)
                if progress is not None:
                    progress()
    return {name: statistics.median(t) for name, t in times.items()}


def peak_tensor_mib(fn: Callable[[], object]) -> float:
    """Peak of live CPU tensor memory (MiB) during ``fn()``, from the profiler's allocation
    events (allocations and frees in time order): what the computation holds at once,
    whatever the allocator keeps."""
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


def gemm_runners(size: int = GEMM_SIZE) -> Dict[str, Callable[[], object]]:
    """One square float32 product per CPU GEMM library, to time beside models: ``'mkl'``
    (``torch.mm``, which ``nn.Linear`` runs) and, where torch has it, ``'onednn'`` (the GEMM of
    mmvitplug's inference linear layers)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    runners = {'mkl': lambda: torch.mm(a, b)}
    if torch.backends.mkldnn.is_available():
        runners['onednn'] = lambda: torch.ops.mkldnn._linear_pointwise(a, b, None, 'none', [],
                                                                       '')
    return runners


def gemm_profile(repeats: int = 5, size: int = GEMM_SIZE) -> Dict[str, float]:
    """GMAC/s of each library's float32 GEMM on this machine, interleaved.

    Why it goes with every speed ratio: mmvitplug's inference linear layers run oneDNN's GEMM
    and ``nn.Linear`` (every peer) runs MKL's; the two are 2x apart on some CPUs and within 15%
    on others of the same kind, so a ratio against a peer holds only with this profile.
    """
    medians = interleaved_medians(gemm_runners(size), repeats)
    return {name: size**3 / seconds / 1e9 for name, seconds in medians.items()}


def machine_header(device: str = 'cpu', gemm: bool = True) -> dict:
    """CPU (and GPU) model, torch threads, the versions of the stack and, on CPU unless
    ``gemm=False``, the float32 GEMM profile (``gemm_gmac_per_s``: :func:`gemm_profile`)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    info = dict(cpu=cpu, threads=torch.get_num_threads(), python=platform.python_version(),
                torch=torch.__version__)
    if device.startswith('cuda') and torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(torch.device(device))
    for package in ('mmengine', 'mmdet', 'mmseg', 'mmpretrain'):
        try:
            info[package] = import_module(package).__version__
        except ImportError:
            pass
    if gemm and device == 'cpu':
        info['gemm_gmac_per_s'] = gemm_profile()
    return info
