"""Timing and memory measurement shared by ``tools/benchmark.py`` and the scripts in
``benchmarks/``: interleaved medians, peak tensor memory, a machine/software header."""
import platform
import statistics
import time
from importlib import import_module
from pathlib import Path
from typing import Callable, Dict, Optional

import torch

__all__ = ['interleaved_medians', 'peak_tensor_mib', 'machine_header']


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


def machine_header(device: str = 'cpu') -> dict:
    """CPU (and GPU) model, torch threads and the versions of the stack."""
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
    return info
