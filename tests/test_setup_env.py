"""How setup builds mmcv's ops for the machine (tools/mmcv_build.py, run by tools/setup_env.sh):
the decision and the wheel cache key, given fake machines, and the check of the installed ops."""
import importlib.util
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.fixture(scope='module')
def mmcv_build():
    spec = importlib.util.spec_from_file_location('_mmcv_build', REPO / 'tools/mmcv_build.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _machine(mmcv_build, **changes):
    base = dict(torch_version='2.14.1', python=(3, 11), torch_cuda='12.8', capabilities=[],
                nvcc=None, wheel=None)
    return mmcv_build.Machine(**dict(base, **changes))


def test_cpu_machines_keep_the_cpu_build_and_its_cache_key(mmcv_build):
    plan = mmcv_build.plan(_machine(mmcv_build, nvcc='/usr/local/cuda/bin/nvcc'))
    assert (plan.flavour, plan.force_cuda, plan.arch_list) == ('cpu', 0, '')
    assert plan.key == 'torch2.14.1-py311'  # the key of the wheels cached before


def test_cuda_machines_with_a_compiler_build_cuda_ops_for_their_devices(mmcv_build):
    plan = mmcv_build.plan(_machine(mmcv_build, capabilities=[(9, 0), (8, 0), (9, 0)],
                                    nvcc='/usr/local/cuda/bin/nvcc'))
    assert (plan.flavour, plan.force_cuda, plan.arch_list) == ('cuda', 1, '8.0;9.0')
    # a CPU wheel (or one for other devices or another CUDA) is never taken from the cache
    assert plan.key == 'torch2.14.1-py311-cu128-sm80_90'
    assert 'sm_80, sm_90' in plan.message


def test_cuda_machines_without_a_compiler_stop_with_what_to_do(mmcv_build):
    with pytest.raises(SystemExit, match='no CUDA compiler.*toolkit 12.8.*MMVITPLUG_MMCV_WHEEL'):
        mmcv_build.plan(_machine(mmcv_build, capabilities=[(9, 0)]))
    with pytest.raises(SystemExit, match='CPU-only build'):
        mmcv_build.plan(_machine(mmcv_build, capabilities=[(9, 0)], torch_cuda=None))
    plan = mmcv_build.plan(_machine(mmcv_build, capabilities=[(9, 0)], wheel='/w/mmcv.whl'))
    assert plan.flavour == 'prebuilt' and '/w/mmcv.whl' in plan.message


def test_plan_prints_shell_assignments(mmcv_build):
    plan = mmcv_build.Plan('cuda', 'k', 1, '8.0;9.0', "it's quoted")
    lines = mmcv_build.shell_assignments(plan)
    out = subprocess.run(['bash', '-c', lines + '\necho "$MMCV_ARCH_LIST|$MMCV_PLAN"'],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "8.0;9.0|it's quoted"


def test_plan_and_check_on_this_machine():
    """This (CPU) machine: CPU ops, and the installed ops run RoIAlign and NMS on the CPU; a
    device the build lacks is reported, not passed."""
    run = [sys.executable, str(REPO / 'tools/mmcv_build.py')]
    out = subprocess.run(run + ['plan'], capture_output=True, text=True, check=True).stdout
    assert "MMCV_FLAVOUR='cpu'" in out
    done = subprocess.run(run + ['check'], capture_output=True, text=True)
    assert done.returncode == 0 and 'RoIAlign and NMS on cpu: ok' in done.stdout, done.stderr
    assert 'installed mmcv ops support: CPU' in done.stdout
    missing = subprocess.run(run + ['check', 'meta'], capture_output=True, text=True)
    assert missing.returncode == 1 and 'fail on meta' in missing.stderr, missing.stderr
