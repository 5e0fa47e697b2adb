"""Reliability: training killed with SIGKILL and resumed ends as an uninterrupted run; broken,
hostile and wrong checkpoints give one clear error at every entry point (converters, the
backbones' Pretrained init, tools/test.py, --resume); seeded training is bit-reproducible."""
import contextlib
import importlib.util
import io
import json
import logging
import math
import pickle

import pytest
import torch
from mmengine.config import Config

from conftest import REPO, SHORT_DEMO_RUNS, reference_dir, run_python
from mmvitplug.converters import convert_checkpoint, official_classifier_cfg
from mmvitplug.converters.cli import main as converter_main
from mmvitplug.registry import MODELS
from mmvitplug.utils.checkpoint import (CheckpointError, latest_loadable_checkpoint,
                                        match_state_dict, read_state_dict,
                                        runner_checkpoints_allowed)


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------- broken and hostile files
class _RunsCode:
    """Unpickling this object would create the file ``marker`` (code execution)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def _weights():
    return {'backbone.w': torch.ones(2, 3), 'head.fc.bias': torch.zeros(2)}


def _write_broken(kind: str, path, marker) -> str:
    """Write a broken file of ``kind``; returns the words its error must contain."""
    if kind == 'empty':
        path.write_bytes(b'')
        return 'empty'
    if kind == 'truncated':
        buffer = io.BytesIO()
        torch.save(dict(state_dict=_weights()), buffer)
        path.write_bytes(buffer.getvalue()[:len(buffer.getvalue()) // 2])
        return 'truncated'
    if kind == 'not a checkpoint':
        path.write_text('model:\n  type: FasterViT\n')
        return 'not a PyTorch checkpoint'
    if kind == 'runs code (zip)':
        torch.save(dict(state_dict=_weights(), hook=_RunsCode(marker)), path)
        return 'safe loading refuses'
    if kind == 'runs code (pickle)':
        path.write_bytes(pickle.dumps(_RunsCode(marker), protocol=2))
        return 'safe loading refuses'
    if kind == 'no state_dict':
        torch.save(dict(epoch=3, note='not weights'), path)
        return 'holds no state_dict'
    assert kind == 'nan weights'
    weights = _weights()
    weights['backbone.w'][0, 1] = math.nan
    weights['head.fc.bias'][0] = math.inf
    torch.save(dict(state_dict=weights), path)
    return 'non-finite weights (NaN or inf) in 2 of 2 tensors'


BROKEN = ['empty', 'truncated', 'not a checkpoint', 'runs code (zip)', 'runs code (pickle)',
          'no state_dict', 'nan weights']


def _fastervit_pretrained(checkpoint, **extra):
    return MODELS.build(dict(type='FasterViT', arch='0', init_cfg=dict(
        type='Pretrained', checkpoint=str(checkpoint), prefix='backbone.', **extra)))


def _entry_points(path, capsys):
    """(entry point, message) for every loader a user reaches with the file ``path``."""
    with pytest.raises(CheckpointError) as info:
        read_state_dict(str(path))
    yield 'read_state_dict', str(info.value)

    rc = converter_main('fastervit', 'doc', [str(path), str(path) + '.out'])
    assert rc == 2 and not (path.parent / (path.name + '.out')).exists()
    yield 'converter', capsys.readouterr().err

    with pytest.raises(CheckpointError) as info:
        _fastervit_pretrained(path).init_weights()
    yield 'init_cfg', str(info.value)

    config = str(REPO / 'configs/demo/litv2_cls_demo.py')
    work = str(path.parent / 'work')
    assert _tool('test').main([config, str(path), '--work-dir', work]) == 2
    yield 'tools/test.py', capsys.readouterr().err
    assert _tool('train').main([config, '--work-dir', work, '--resume', str(path)]) == 2
    yield 'train --resume', capsys.readouterr().err


@pytest.mark.parametrize('kind', BROKEN)
def test_broken_and_hostile_files_give_one_clear_error_everywhere(kind, tmp_path, capsys):
    path, marker = tmp_path / 'model.pth', tmp_path / 'code_ran'
    words = _write_broken(kind, path, marker)
    for where, message in _entry_points(path, capsys):
        assert str(path) in message and words in message, (where, message)
        assert 'Traceback' not in message, (where, message)
    assert not marker.exists(), 'loading executed code from the checkpoint'


def test_converters_check_the_architecture_before_writing(tmp_path, capsys):
    data = torch.load(reference_dir('fastervit') / 'tiny_224.pt', weights_only=True)
    weights = dict(data['state_dict'])
    key = next(k for k in weights if k.endswith('qkv.weight'))
    weights[key] = weights[key][:-3]  # one mis-shaped tensor
    src, dst = tmp_path / 'official.pth', tmp_path / 'out.pth'
    torch.save(dict(model=weights), src)
    rc = converter_main('fastervit', 'doc', [str(src), str(dst), '--config',
                                             repr(data['config'])])
    assert rc == 2 and 'shape mismatch (1)' in capsys.readouterr().err
    assert not dst.exists() and not list(tmp_path.glob('.*tmp'))


# ---------------------------------------------------------------------- wrong pretrained files
# family -> reference case; each family is loaded with the next family's file as the wrong one
CASES = {'fastervit': 'tiny_224', 'biformer': 'tiny_224', 'litv2': 'tiny_224'}
WRONG = {'fastervit': 'litv2', 'biformer': 'fastervit', 'litv2': 'biformer'}


def _case(family):
    return torch.load(reference_dir(family) / f'{CASES[family]}.pt', weights_only=True)


def _backbone(family, **init):
    cfg = official_classifier_cfg(family, _case(family)['config'])['backbone']
    cfg.update(out_indices=(0, 1, 2, 3))
    if init:
        cfg['init_cfg'] = dict(type='Pretrained', **init)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """family -> (authors' file, converted file) of the reference weights."""
    folder = tmp_path_factory.mktemp('pretrained')
    files = {}
    for family in CASES:
        data = _case(family)
        official, ours = folder / f'{family}_official.pth', folder / f'{family}.pth'
        torch.save(dict(model=data['state_dict']), official)
        convert_checkpoint(family, str(official), str(ours), data['config'])
        files[family] = official, ours
    return files


@contextlib.contextmanager
def _mmengine_log():
    """The messages mmengine's current logger receives inside the block."""
    from mmengine.logging import MMLogger

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    messages, handler, logger = [], Collect(), MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def _loaded_equal(model, path):
    expected = torch.load(path, weights_only=True)['state_dict']
    for key, value in model.state_dict().items():
        if f'backbone.{key}' in expected:
            assert torch.equal(value, expected[f'backbone.{key}']), key


@pytest.mark.parametrize('family', sorted(CASES))
def test_pretrained_checkpoints_must_fit(family, converted, tmp_path):
    official, ours = converted[family]
    model = _backbone(family, checkpoint=str(ours), prefix='backbone.')
    model.init_weights()  # the classifier file lacks norm0-norm2 only: within max_unloaded
    _loaded_equal(model, ours)

    # The authors' release, unconverted: converted on the fly with a note.
    with _mmengine_log() as messages:
        model = _backbone(family, checkpoint=str(official), prefix='backbone.')
        model.init_weights()
    assert any("authors'" in m and 'converted on the fly' in m and
               f'python -m mmvitplug.converters {family} ' in m for m in messages), messages
    _loaded_equal(model, ours)

    # Another family's file: refused with the file, the counts and the first missing keys.
    wrong = converted[WRONG[family]][1]
    with pytest.raises(CheckpointError) as info:
        _backbone(family, checkpoint=str(wrong), prefix='backbone.').init_weights()
    message = str(info.value)
    assert str(wrong) in message and 'tensors load' in message and 'missing (' in message
    theirs = torch.load(wrong, weights_only=True)['state_dict']
    report = match_state_dict(model.state_dict(), {k[len('backbone.'):]: v
                                                   for k, v in theirs.items()})
    assert report.unloaded_fraction > 0.5 and report.missing[0] in message
    # ... unless partial loading is asked for.
    _backbone(family, checkpoint=str(wrong), prefix='backbone.', max_unloaded=1.0).init_weights()

    # The prefix forgotten: refused with the hint.
    with pytest.raises(CheckpointError, match="set prefix='backbone.'"):
        _backbone(family, checkpoint=str(ours)).init_weights()


def test_a_partly_fitting_checkpoint_loads_only_on_purpose(converted, tmp_path):
    _, ours = converted['fastervit']
    state = torch.load(ours, weights_only=True)
    linear = [k for k, v in state['state_dict'].items()
              if k.startswith('backbone.') and 'mlp' in k and v.ndim == 2]
    dropped = max(linear, key=lambda k: state['state_dict'][k].numel())
    del state['state_dict'][dropped]
    partial = tmp_path / 'partial.pth'
    torch.save(state, partial)
    with pytest.raises(CheckpointError, match=dropped[len('backbone.'):]):
        _backbone('fastervit', checkpoint=str(partial), prefix='backbone.').init_weights()
    model = _backbone('fastervit', checkpoint=str(partial), prefix='backbone.',
                      max_unloaded=0.9)
    torch.manual_seed(0)
    model.init_weights()
    _loaded_equal(model, partial)
    # The tensor the file lacks keeps the scratch initialisation (truncated normal, std 0.02).
    weight = model.state_dict()[dropped[len('backbone.'):]]
    assert 0.01 < weight.std() < 0.03


def test_train_refuses_a_pretrained_file_of_another_model(converted, demo_data, tmp_path,
                                                          capsys, monkeypatch):
    monkeypatch.setenv('MMVITPLUG_DEMO_DATA', str(demo_data))
    config, options = SHORT_DEMO_RUNS['cls']  # LITv2-S
    wrong = converted['fastervit'][1]
    rc = _tool('train').main([
        config, '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options,
        'model.backbone.init_cfg.type=Pretrained', f'model.backbone.init_cfg.checkpoint={wrong}',
        'model.backbone.init_cfg.prefix=backbone.'])
    err = capsys.readouterr().err
    assert rc == 2 and f'pretrained checkpoint {wrong} does not fit LITv2' in err, err
    assert not list((tmp_path / 'work').glob('*.pth'))


# ---------------------------------------------------------------------- interrupted training
KILL_HOOKS = '''
import os, signal
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def _kill():
    os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class KillAfterIter(Hook):
    """SIGKILL at the end of iteration ``iteration`` (1-based), after its checkpoint."""
    priority = 'LOWEST'

    def __init__(self, iteration):
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.iteration:
            _kill()


@HOOKS.register_module()
class KillInsideSave(Hook):
    """SIGKILL inside the save of checkpoint ``step``: its bytes are written, the file is not
    yet renamed into place (the kill replaces the flush to disk that precedes the rename)."""

    def __init__(self, step):
        self.step = step

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['iter'] == self.step:
            os.fsync = lambda fd: _kill()
'''
# Six iterations of the FasterViT UPerNet demo, a checkpoint every two and only the newest kept,
# one data worker (its generator replays identically on resume), validation at the end.
SEG_RUN = ['train_cfg.max_iters=6', 'train_cfg.val_interval=6',
           'default_hooks.checkpoint.interval=2', 'default_hooks.checkpoint.max_keep_ckpts=1',
           'train_dataloader.batch_size=2',
           'train_dataloader.num_workers=1', 'train_dataloader.persistent_workers=True',
           'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False']


def _final_metrics(work):
    lines = [json.loads(line) for path in sorted(work.glob('*/vis_data/scalars.json'))
             for line in path.read_text().splitlines()]
    return [line for line in lines if 'mIoU' in line][-1]


@pytest.mark.slow
def test_sigkilled_training_resumes_to_the_uninterrupted_result(demo_data, tmp_path):
    env = {'MMVITPLUG_DEMO_DATA': str(demo_data), 'PYTHONPATH': str(tmp_path)}
    (tmp_path / 'killpoints.py').write_text(KILL_HOOKS)
    config = REPO / 'configs/demo/upernet_demo.py'

    def train(work, *extra, hooks=None, check=True):
        cfg = config
        if hooks is not None:
            cfg = tmp_path / f'{hooks[0]["type"]}.py'
            cfg.write_text(f'_base_ = [{str(config)!r}]\n'
                           "custom_imports = dict(imports=['mmvitplug', 'killpoints'], "
                           'allow_failed_imports=False)\n'
                           f'custom_hooks = {hooks!r}\n')
        return run_python(['tools/train.py', str(cfg), '--work-dir', str(work), *extra,
                           '--cfg-options', *SEG_RUN], env=env, check=check)

    whole = tmp_path / 'whole'
    train(whole)

    work = tmp_path / 'killed'
    proc = train(work, hooks=[dict(type='KillAfterIter', iteration=3)], check=False)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert (work / 'iter_2.pth').is_file() and not (work / 'iter_4.pth').exists()

    proc = train(work, '--resume', hooks=[dict(type='KillInsideSave', step=4)], check=False)
    assert proc.returncode == -9, proc.stderr[-2000:]
    # Killed between writing the bytes and renaming them into place: nothing is published, and
    # the one checkpoint kept (max_keep_ckpts=1) is still there: the new one is written first.
    assert not (work / 'iter_4.pth').exists() and list(work.glob('.iter_4.pth.*.tmp'))
    assert (work / 'last_checkpoint').read_text().strip().endswith('iter_2.pth')
    assert (work / 'iter_2.pth').is_file()

    # What a writer without atomic saves (mmengine's own) leaves when killed mid-write, with
    # last_checkpoint cut off too: resume must skip the half file and name it.
    (work / 'iter_4.pth').write_bytes((work / 'iter_2.pth').read_bytes()[:100_000])
    (work / 'last_checkpoint').write_text('')
    proc = train(work, '--resume')
    out = proc.stdout + proc.stderr
    assert f'skipping {work / "iter_4.pth"}: it does not load' in out and 'truncated' in out

    assert sorted(p.name for p in work.glob('iter_*.pth')) == ['iter_6.pth']  # the rest pruned
    with runner_checkpoints_allowed():
        ours = torch.load(work / 'iter_6.pth', weights_only=True)
        reference = torch.load(whole / 'iter_6.pth', weights_only=True)
    assert ours['meta']['iter'] == reference['meta']['iter'] == 6
    for key, value in reference['state_dict'].items():
        assert torch.equal(ours['state_dict'][key], value), key
    got, expected = _final_metrics(work), _final_metrics(whole)
    assert got['mIoU'] == expected['mIoU'] and got['aAcc'] == expected['aAcc']


def test_latest_loadable_checkpoint_prefers_last_checkpoint_then_the_newest(tmp_path):
    for step in (2, 4, 6):
        torch.save(dict(state_dict=_weights(), meta=dict(iter=step)), tmp_path / f'iter_{step}.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    assert latest_loadable_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_4.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'gone.pth'))
    lines = []
    assert latest_loadable_checkpoint(str(tmp_path), lines.append) == str(tmp_path / 'iter_6.pth')
    assert lines == [f'skipping {tmp_path / "gone.pth"}: named by '
                     f'{tmp_path / "last_checkpoint"} but not found']
    for step in (2, 4, 6):
        (tmp_path / f'iter_{step}.pth').write_bytes(b'')
    assert latest_loadable_checkpoint(str(tmp_path), lines.append) is None


# ---------------------------------------------------------------------- determinism
DETERMINISM = {  # family -> demo config, settings of a four-iteration run without saving
    'fastervit': ('configs/demo/upernet_demo.py', {'train_cfg.max_iters': 4,
                                                   'train_dataloader.batch_size': 2}),
    'biformer': ('configs/demo/upernet_biformer_demo.py', {'train_cfg.max_iters': 4,
                                                           'train_dataloader.batch_size': 2}),
    'litv2': ('configs/demo/litv2_cls_demo.py', {'train_cfg.max_epochs': 2,
                                                 'train_dataloader.batch_size': 4,
                                                 'train_dataloader.dataset.indices': 8}),
}


@pytest.fixture
def restore_determinism():
    yield
    torch.use_deterministic_algorithms(False)


def _losses(config, settings, work):
    """Losses of a seeded, deterministic training run of ``config`` (in this process)."""
    from mmvitplug.utils.launch import build_runner
    cfg = Config.fromfile(str(REPO / config))
    cfg.merge_from_dict(settings)
    cfg.randomness = dict(seed=0, deterministic=True)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False)
    cfg.work_dir = str(work)
    cfg.experiment_name = f'determinism_{work.parent.name}_{work.name}'  # one message hub each
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10_000)
    cfg.train_cfg.val_interval = 10_000
    runner = build_runner(cfg)
    runner.train()
    return [float(v) for v in runner.message_hub.get_scalar('train/loss').data[0]]


@pytest.mark.slow
@pytest.mark.parametrize('family', sorted(DETERMINISM))
def test_seeded_deterministic_training_is_bit_identical(family, demo_data, tmp_path,
                                                        monkeypatch, restore_determinism):
    monkeypatch.setenv('MMVITPLUG_DEMO_DATA', str(demo_data))
    config, settings = DETERMINISM[family]
    first = _losses(config, settings, tmp_path / 'a')
    second = _losses(config, settings, tmp_path / 'b')
    assert len(first) == 4 and all(math.isfinite(v) for v in first)
    assert first == second  # bit-identical, not close
