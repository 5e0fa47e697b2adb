import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _reference_root() -> Path:
    return Path(os.environ.get('MMVITPLUG_REFERENCE', REPO.parent / 'shared' / 'reference'))


def reference_dir(family: str) -> Path:
    """``<repo>/../shared/reference/<family>`` (or ``$MMVITPLUG_REFERENCE/<family>``).

    The reference data is test input produced with the authors' code. CI always has it, so under
    ``CI=true`` a missing folder is a failure; elsewhere the tests that need it skip.
    """
    folder = _reference_root() / family
    if not folder.is_dir():
        message = (f'reference data not found at {folder} (set MMVITPLUG_REFERENCE to the folder '
                   'holding <family>/ reference cases)')
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail(message)
        pytest.skip(message)
    return folder


def reference_cases(family: str):
    """Sorted case files of a family (empty when the data is absent: tests then skip)."""
    return sorted((_reference_root() / family).glob('*.pt'))


def keys_listing(family: str, variant: str, device: str = 'cpu') -> dict:
    """Zero tensors with the keys, shapes and dtypes of ``keys/<variant>.txt`` (``device='meta'``
    allocates nothing: enough to check layouts of billion-parameter variants)."""
    import ast

    import torch
    lines = (reference_dir(family) / 'keys' / f'{variant}.txt').read_text().splitlines()
    listing = {}
    for line in lines:
        key, shape, dtype = line.split('\t')
        listing[key] = torch.zeros(ast.literal_eval(shape), dtype=getattr(torch, dtype),
                                   device=device)
    return listing


def build_classifier(family: str, official_config: dict):
    """The mmpretrain ImageClassifier the converter contract builds for an official config."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from mmvitplug.converters import official_classifier_cfg
    init_default_scope('mmpretrain')
    return MODELS.build(official_classifier_cfg(family, official_config))


# --cfg-options that keep every dataloader of a short training run in the main process.
LOADER_OPTIONS = [f'{loader}.{key}' for loader in ('train_dataloader', 'val_dataloader',
                                                    'test_dataloader')
                  for key in ('num_workers=0', 'persistent_workers=False')]

# task -> (demo config, --cfg-options of a two-iteration (two-epoch) training run without
# validation, dataloaders in the main process); callers add the batch size.
_TWO_ITERATIONS = ['train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2']
SHORT_DEMO_RUNS = {
    task: (config, [*shrink, 'train_cfg.val_interval=100', *LOADER_OPTIONS])
    for task, (config, shrink) in {
        'det': ('configs/demo/cascade_mask_rcnn_demo.py', _TWO_ITERATIONS),
        'seg': ('configs/demo/upernet_demo.py', _TWO_ITERATIONS),
        'cls': ('configs/demo/litv2_cls_demo.py', ['train_cfg.max_epochs=2']),
    }.items()
}

# Odd, non-square and large input sizes every backbone must take (H, W).
ANY_SIZES = [(32, 32), (33, 517), (37, 41), (64, 96), (95, 33), (127, 129), (200, 50),
             (224, 224), (230, 198), (255, 257), (300, 301), (333, 111), (401, 64), (512, 683),
             (513, 512), (640, 427), (700, 35), (800, 1333), (1023, 77), (1333, 800),
             (1400, 1400), (512, 2048), (35, 1400)]


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'slow: end-to-end test (training subprocesses); deselect with -m "not slow"')
    _share_cores_between_workers()


def _share_cores_between_workers() -> None:
    """Under pytest-xdist (``make test``), give each worker its share of the cores for torch's
    threads, in the worker and in the subprocesses it starts: N workers of all-core torch would
    oversubscribe the machine N times over."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '0') or 0)
    if workers < 2:
        return
    import torch
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    os.environ.setdefault('OMP_NUM_THREADS', threads)
    torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))


def run_python(args, env=None, cwd=REPO, timeout=900, check=False):
    """Run ``python ARGS`` in a subprocess of this interpreter; returns CompletedProcess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'python {" ".join(map(str, args))} failed ({proc.returncode}):\n'
                             f'--- stdout\n{proc.stdout[-4000:]}\n'
                             f'--- stderr\n{proc.stderr[-6000:]}')
    return proc


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory) -> Path:
    """A small demo dataset (all three formats) shared by the tests of one session."""
    out = tmp_path_factory.mktemp('demo_data')
    run_python(['tools/make_demo_data.py', '--out', str(out), '--num-train', '12',
                '--num-val', '4', '--size', '128', '--seed', '1'], check=True)
    return out


@pytest.fixture(autouse=True)
def runner_checkpoint_opt_in_ends_with_the_test():
    """A test whose code opts the process in to runner checkpoints (the tools' runner, the hooks)
    must not let a later test on the same worker load them without opting in itself: importing
    mmvitplug does not, so neither may the suite's order. Entries torch adds on its own stay."""
    import torch
    from mmvitplug.utils.checkpoint import runner_checkpoint_globals
    before = list(torch.serialization.get_safe_globals())
    yield
    after = list(torch.serialization.get_safe_globals())
    added = [g for g in runner_checkpoint_globals() if g in after and g not in before]
    if added:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals([g for g in after if g not in added])
