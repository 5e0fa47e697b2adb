"""tools/train.py and tools/test.py on the demo configs of all three toolboxes: train, save a
checkpoint, resume, and test from the checkpoint with torch's safe loading; clear errors."""
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO, SHORT_DEMO_RUNS, run_python

# task -> training batch size, options of the resumed run, checkpoint name, expected metric
CASES = {
    'det': (2, ['train_cfg.max_iters=4'], 'iter_{}.pth', 'coco/bbox_mAP'),
    'seg': (2, ['train_cfg.max_iters=4'], 'iter_{}.pth', 'mIoU'),
    'cls': (8, ['train_cfg.max_epochs=3'], 'epoch_{}.pth', 'accuracy/top1'),
}


@pytest.fixture
def tool(monkeypatch, capsys):
    """``tool(name, *args, env=None) -> (exit status, stderr)``: ``tools/<name>.py``'s
    ``main`` in this process, for errors raised before any runner exists (a subprocess per
    case would cost seconds of imports); environment changes are undone afterwards."""
    import importlib.util
    monkeypatch.chdir(REPO)
    monkeypatch.setenv('LOCAL_RANK', os.environ.get('LOCAL_RANK', '0'))  # tools export it

    def run(name, *args, env=None):
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        spec = importlib.util.spec_from_file_location(f'_tool_{name}', REPO / f'tools/{name}.py')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        capsys.readouterr()
        try:
            status = module.main([str(a) for a in args])
        except SystemExit as exit:  # argparse's errors
            status = exit.code
        return status, capsys.readouterr().err

    return run


def _short_run(task: str):
    """The demo config of ``task`` and the options of its short training run."""
    config, shrink = SHORT_DEMO_RUNS[task]
    return config, [*shrink, f'train_dataloader.batch_size={CASES[task][0]}']


@pytest.mark.slow
@pytest.mark.parametrize('task', sorted(CASES))
def test_train_resume_test_round_trip(task, demo_data, tmp_path):
    config, shrink = _short_run(task)
    _, longer, ckpt_name, metric = CASES[task]
    env = {'MMVITPLUG_DEMO_DATA': str(demo_data)}
    work = tmp_path / 'work'

    run_python(['tools/train.py', config, '--work-dir', str(work), '--cfg-options', *shrink],
               env=env, check=True)
    first = work / ckpt_name.format(2)
    assert first.is_file()

    # Resume from the latest checkpoint in the work dir and train further.
    proc = run_python(['tools/train.py', config, '--work-dir', str(work), '--resume',
                       '--cfg-options', *shrink, *longer], env=env, check=True)
    assert 'resumed' in (proc.stdout + proc.stderr).lower()
    second = work / ckpt_name.format(3 if task == 'cls' else 4)
    assert second.is_file()

    # Runner checkpoints load with torch's safe loading where mmengine's types are allowed.
    from mmvitplug.utils import runner_checkpoints_allowed
    with runner_checkpoints_allowed():
        ckpt = torch.load(second, map_location='cpu', weights_only=True)
    progress_key, expected = ('epoch', 3) if task == 'cls' else ('iter', 4)
    assert ckpt['meta'][progress_key] == expected
    assert 'message_hub' in ckpt and 'optimizer' in ckpt

    test_dir = tmp_path / 'test'
    run_python(['tools/test.py', config, str(second), '--work-dir', str(test_dir),
                '--out', str(tmp_path / 'pred.pkl'), '--cfg-options', *shrink],
               env=env, check=True)
    metrics = json.loads((test_dir / 'test_metrics.json').read_text())
    assert metric in metrics, metrics
    assert (tmp_path / 'pred.pkl').is_file()


def test_safe_loading_needs_the_allow_list(tmp_path):
    """Safe loading rejects mmengine's types, also after ``import mmvitplug``; once a program
    opts in (allow_runner_checkpoints), they load."""
    path = tmp_path / 'ckpt.pth'
    run_python(['-c', 'import numpy as np, torch; from mmengine.logging import HistoryBuffer; '
                'b = HistoryBuffer(); b.update(1.5); '
                f'torch.save(dict(hub=b, best=np.float64(0.5), n=np.int64(3)), r"{path}")'],
               check=True)
    plain = run_python(['-c', f'import torch, mmvitplug; torch.load(r"{path}", weights_only=True)'])
    assert plain.returncode != 0 and 'weights_only' in plain.stderr
    ok = run_python(['-c', 'import torch; from mmvitplug.utils import allow_runner_checkpoints; '
                     f'allow_runner_checkpoints(); c = torch.load(r"{path}", weights_only=True); '
                     'print(c["hub"].current(), float(c["best"]), int(c["n"]))'], check=True)
    assert ok.stdout.split()[-3:] == ['1.5', '0.5', '3']


@pytest.mark.parametrize('target', ['HistoryBuffer, "update"', 'np.ndarray, "tofile"'])
def test_safe_loading_still_refuses_other_getattr(target, tmp_path):
    """The getattr stand-in resolves HistoryBuffer statistics only, nothing else."""
    path = tmp_path / 'evil.pth'
    run_python(['-c', 'import numpy as np, torch; from mmengine.logging import HistoryBuffer\n'
                'class P:\n'
                f'    def __reduce__(self): return (getattr, ({target}))\n'
                f'torch.save(dict(x=P()), r"{path}")'], check=True)
    proc = run_python(['-c', 'import torch; from mmvitplug.utils import allow_runner_checkpoints; '
                       f'allow_runner_checkpoints(); torch.load(r"{path}", weights_only=True)'])
    assert proc.returncode != 0 and 'UnpicklingError' in proc.stderr


@pytest.mark.parametrize('name', ['train', 'test'])
def test_missing_config_is_a_clear_error(name, tool):
    args = ['configs/demo/no_such_config.py'] + (['x.pth'] if name == 'test' else [])
    status, err = tool(name, *args)
    assert status == 2
    assert 'config file not found: configs/demo/no_such_config.py' in err


def test_unknown_scope_is_a_clear_error(tmp_path, tool):
    cfg = tmp_path / 'bad_scope.py'
    cfg.write_text("default_scope = 'mmfoo'\nmodel = dict(type='X')\n")
    status, err = tool('train', cfg)
    assert status == 2
    assert "default_scope='mmfoo'" in err and "'mmdet'" in err


@pytest.mark.parametrize('config', [
    'configs/demo/cascade_mask_rcnn_demo.py', 'configs/demo/upernet_demo.py',
    'configs/demo/litv2_cls_demo.py'
])
def test_missing_demo_data_names_the_command(config, tmp_path, tool):
    missing = tmp_path / 'nowhere'
    status, err = tool('train', config, '--work-dir', tmp_path / 'w',
                       env={'MMVITPLUG_DEMO_DATA': str(missing)})
    assert status == 2
    assert f'dataset path not found: {missing}' in err
    assert 'python tools/make_demo_data.py' in err


def test_missing_checkpoint_is_a_clear_error(demo_data, tool):
    status, err = tool('test', 'configs/demo/upernet_demo.py', 'missing.pth',
                       env={'MMVITPLUG_DEMO_DATA': str(demo_data)})
    assert status == 2 and 'checkpoint not found: missing.pth' in err


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only errors')
@pytest.mark.parametrize('flags,message', [
    (['--launcher', 'pytorch'], 'needs the variables torchrun sets'),
    (['--launcher', 'slurm'], '--launcher slurm needs CUDA GPUs'),
    (['--amp'], '--amp needs CUDA GPUs')])
def test_gpu_only_options_without_gpus_are_clear_errors(flags, message, demo_data, tmp_path):
    """In a subprocess: a launcher may set up process groups and environment variables."""
    proc = run_python(['tools/train.py', 'configs/demo/litv2_cls_demo.py', *flags,
                       '--work-dir', str(tmp_path)],
                      env={'MMVITPLUG_DEMO_DATA': str(demo_data)})
    assert proc.returncode == 2 and message in proc.stderr
    assert 'Traceback' not in proc.stderr


@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh'])
def test_dist_scripts_usage(script):
    proc = subprocess.run(['bash', str(REPO / 'tools' / script)], capture_output=True, text=True)
    assert proc.returncode == 2 and 'usage' in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
def test_dist_train_two_cpu_processes(demo_data, tmp_path):
    """tools/dist_train.sh: 2 torchrun processes train the demo detector over gloo as one
    distributed run, and rank 0 saves the checkpoint."""
    config, shrink = _short_run('det')
    env = dict(os.environ, PYTHON=sys.executable, MMVITPLUG_DEMO_DATA=str(demo_data),
               PORT='29531')
    for _ in range(2):
        proc = subprocess.run(['bash', 'tools/dist_train.sh', config, '2', '--work-dir',
                               str(tmp_path), '--cfg-options', *shrink,
                               'train_dataloader.batch_size=1'],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        log = proc.stdout + proc.stderr
        # Once in seven runs on a 2-core CI machine a worker died in native code with this
        # line and nothing of ours in its log (SIGABRT; not reproduced in isolation): run once
        # more on exactly that; any other failure fails at once.
        if proc.returncode == 0 or 'terminate called without an active exception' not in log:
            break
    assert proc.returncode == 0, log[-3000:]
    assert 'Distributed training is not used' not in log
    assert 'Distributed training: True' in log and 'GPU number: 2' in log, log[-3000:]
    ckpt = torch.load(tmp_path / 'iter_2.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 2
    assert any(k.startswith('backbone.') for k in ckpt['state_dict'])


@pytest.mark.parametrize('config,release', [
    ('configs/fastervit/cascade_mask_rcnn_coco.py', 'fastervit_2_224_1k.pth.tar'),
    ('configs/biformer/upernet_biformer-base_8xb2-160k_ade20k-512x512.py',
     'biformer_base_best.pth'),
    ('configs/litv2/cascade-mask-rcnn_litv2-m_fpn_ms-crop-3x_coco.py', 'litv2_m.pth'),
])
def test_missing_pretrained_checkpoint_is_one_clear_message(config, release, tmp_path):
    """The headline command without the converted ImageNet weights: one line naming the
    authors' release and the converter command, exit status 2."""
    proc = run_python([str(REPO / 'tools/train.py'), str(REPO / config), '--work-dir',
                       str(tmp_path)], cwd=tmp_path)  # no checkpoints/ folder there
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert len(lines) == 1, proc.stderr
    assert 'pretrained checkpoint not found: checkpoints/' in lines[0]
    assert release in lines[0] and 'python -m mmvitplug.converters' in lines[0]
