#!/usr/bin/env python
"""How ``tools/setup_env.sh`` builds mmcv's compiled ops for this machine, and the check that
they run on the device that will train.

``python tools/mmcv_build.py plan`` prints shell assignments for setup_env.sh:

* no CUDA device visible to torch: CPU ops (``FORCE_CUDA=0``), the wheel cached under
  ``torch<version>-py<XY>`` (the key of every earlier CPU build);
* a CUDA device and a CUDA compiler (``nvcc`` on ``PATH`` or under ``CUDA_HOME``): CUDA ops for
  the devices' architectures (``FORCE_CUDA=1``, ``TORCH_CUDA_ARCH_LIST``), cached under
  ``torch<version>-py<XY>-cu<torch's CUDA>-sm<archs>``, so a CPU wheel is never reused there;
* a CUDA device without a compiler: one message saying what to install, or how to name a
  prebuilt mmcv wheel (``MMVITPLUG_MMCV_WHEEL=/path/to/mmcv-2.1.0-....whl``), and exit code 3;
* ``MMVITPLUG_MMCV_WHEEL`` set: that wheel, no build.

``python tools/mmcv_build.py check`` runs RoIAlign and NMS from ``mmcv.ops`` on the device
that will train (the first CUDA device if torch sees one, else the CPU), prints which devices
the installed build supports, and exits 1 when the ops fail there (e.g. a CPU-only build on a
GPU machine: mmdet would stop with "implementation for device cuda:0 not found").

Needs torch only (mmcv for ``check``); :func:`plan` takes the machine as a :class:`Machine`,
so the decision is testable without a GPU.
"""
import os
import shutil
import sys
from typing import List, NamedTuple, Optional, Tuple

#: exit code of ``plan`` when the machine cannot build what it needs
NEEDS_COMPILER = 3
WHEEL_ENV = 'MMVITPLUG_MMCV_WHEEL'


class Machine(NamedTuple):
    """What the mmcv build depends on."""
    torch_version: str  #: e.g. '2.14.1' (local suffix dropped)
    python: Tuple[int, int]
    torch_cuda: Optional[str]  #: the CUDA version torch was built with ('12.8'), or None
    capabilities: List[Tuple[int, int]]  #: compute capability of each visible CUDA device
    nvcc: Optional[str]  #: path of the CUDA compiler, or None
    wheel: Optional[str] = None  #: a prebuilt mmcv wheel named by the user


class Plan(NamedTuple):
    flavour: str  #: 'cpu', 'cuda' or 'prebuilt'
    key: str  #: the wheel cache key
    force_cuda: int
    arch_list: str  #: TORCH_CUDA_ARCH_LIST ('' for CPU)
    message: str  #: what setup says it does


def this_machine() -> Machine:
    import torch
    capabilities = ([torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())]
                    if torch.cuda.is_available() else [])
    nvcc = shutil.which('nvcc')
    if nvcc is None and capabilities:  # (torch's CUDA_HOME guess warns on CPU machines)
        from torch.utils import cpp_extension
        if cpp_extension.CUDA_HOME:
            candidate = os.path.join(cpp_extension.CUDA_HOME, 'bin', 'nvcc')
            nvcc = candidate if os.path.isfile(candidate) else None
    return Machine(torch.__version__.split('+')[0], sys.version_info[:2], torch.version.cuda,
                   capabilities, nvcc, os.environ.get(WHEEL_ENV) or None)


def plan(machine: Machine) -> Plan:
    """How to get mmcv's ops on ``machine``.

    Raises:
        SystemExit: a CUDA device but no compiler and no prebuilt wheel (the message says what
            to install).
    """
    key = 'torch%s-py%d%d' % (machine.torch_version, *machine.python)
    if machine.wheel:
        return Plan('prebuilt', key, 0, '', f'installing the prebuilt mmcv wheel {machine.wheel}')
    if not machine.capabilities:
        return Plan('cpu', key, 0, '', 'building mmcv with CPU ops (torch sees no CUDA device)')
    archs = sorted({f'{major}.{minor}' for major, minor in machine.capabilities})
    devices = ', '.join(f'sm_{a.replace(".", "")}' for a in archs)
    if machine.torch_cuda is None:
        raise SystemExit('[setup] torch sees a CUDA device but is a CPU-only build; install a '
                         'CUDA build of torch, or hide the device (CUDA_VISIBLE_DEVICES=) for '
                         'a CPU setup')
    if machine.nvcc is None:
        raise SystemExit(
            f'[setup] torch sees CUDA devices ({devices}) but no CUDA compiler was found, so '
            "mmcv's CUDA ops cannot be built (mmdet's RoIAlign and NMS would then fail on the "
            f'GPU). Install the CUDA toolkit {machine.torch_cuda} (torch is built with it) so '
            'that nvcc is on PATH or under CUDA_HOME, or name a prebuilt mmcv 2.1.0 wheel for '
            f'this torch and CUDA: {WHEEL_ENV}=/path/to/mmcv-2.1.0-....whl make setup')
    key += '-cu%s-sm%s' % (machine.torch_cuda.replace('.', ''),
                           '_'.join(a.replace('.', '') for a in archs))
    return Plan('cuda', key, 1, ';'.join(archs),
                f'building mmcv with CUDA ops for {devices} (CUDA {machine.torch_cuda}, '
                f'{machine.nvcc})')


def shell_assignments(p: Plan) -> str:
    """``plan``'s output: assignments setup_env.sh evaluates."""
    def quote(value) -> str:
        return "'" + str(value).replace("'", "'\\''") + "'"
    return '\n'.join(f'{name}={quote(value)}' for name, value in (
        ('MMCV_FLAVOUR', p.flavour), ('MMCV_KEY', p.key), ('MMCV_FORCE_CUDA', p.force_cuda),
        ('MMCV_ARCH_LIST', p.arch_list), ('MMCV_PLAN', p.message)))


def check(device: Optional[str] = None) -> Tuple[bool, List[str]]:
    """Run RoIAlign and NMS of ``mmcv.ops`` on ``device`` (default: the device that will
    train). Returns whether both ran and matched the CPU, and report lines."""
    import torch
    from mmcv.ops import get_compiling_cuda_version, nms, roi_align
    device = device or ('cuda:0' if torch.cuda.is_available() else 'cpu')
    compiled = get_compiling_cuda_version()
    supports = 'CPU' + ('' if compiled in ('not available', '', None) else
                        f' and CUDA (compiled with CUDA {compiled})')
    lines = [f'installed mmcv ops support: {supports}']
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    feats = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(1, 2, 16, 16)
    rois = torch.tensor([[0., 1., 1., 9., 9.]])
    expected = (nms(boxes, scores, 0.5)[1], roi_align(feats, rois, (2, 2), 1.0, 2, 'avg', True))
    try:
        got = (nms(boxes.to(device), scores.to(device), 0.5)[1],
               roi_align(feats.to(device), rois.to(device), (2, 2), 1.0, 2, 'avg', True))
    except (RuntimeError, NotImplementedError) as err:
        lines.append(f'RoIAlign / NMS fail on {device}: {str(err).splitlines()[0]}')
        return False, lines
    ok = torch.equal(got[0].cpu(), expected[0]) and torch.allclose(got[1].cpu(), expected[1])
    lines.append(f'RoIAlign and NMS on {device}: ' + ('ok' if ok else 'wrong results'))
    return ok, lines


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['plan']:
        try:
            print(shell_assignments(plan(this_machine())))
        except SystemExit as err:
            print(err, file=sys.stderr)
            return NEEDS_COMPILER
        return 0
    if argv[:1] == ['check']:
        ok, lines = check(argv[1] if len(argv) > 1 else None)
        print('\n'.join(f'[setup] {line}' for line in lines), file=sys.stderr if not ok else
              sys.stdout)
        return 0 if ok else 1
    print(__doc__.split('\n\n')[0], '\nusage: mmcv_build.py plan | check [DEVICE]',
          file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
