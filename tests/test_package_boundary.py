"""What the installed package is and does to the process that imports it: importing it changes
no global policy of torch; programs that load runner checkpoints opt in to mmengine's types
(the tools through ``build_runner``, configs through the runner hooks); installed modules name
only installed commands; benchmark fixtures and repository tools stay out of it; the licences
are stated from one table."""
import importlib.util
import json
import re
import textwrap

import pytest

from conftest import REPO, run_python
from mmvitplug.converters import CONVERTERS
from mmvitplug.licences import FAMILY_LICENCES, PACKAGE_LICENCE

# The torch settings a library must leave as it found them. torch allow-lists its own types
# (DTensor, ...) when their modules are first imported, so safe loading's allow-list is
# compared without the globals torch defines.
TORCH_POLICIES = textwrap.dedent('''
    import json, sys, torch

    def not_torchs(item):
        obj = item[0] if isinstance(item, tuple) else item
        return not str(getattr(obj, '__module__', '')).startswith('torch.')

    def policies():
        return dict(
            safe_globals=sorted(repr(g) for g in torch.serialization.get_safe_globals()
                                if not_torchs(g)),
            default_dtype=str(torch.get_default_dtype()),
            deterministic=torch.are_deterministic_algorithms_enabled(),
            matmul_precision=torch.get_float32_matmul_precision(),
            threads=torch.get_num_threads(), grad=torch.is_grad_enabled(),
            mkldnn=torch.backends.mkldnn.enabled, cudnn_benchmark=torch.backends.cudnn.benchmark)
    ''')


def test_importing_mmvitplug_changes_no_global_policy_of_torch():
    script = TORCH_POLICIES + textwrap.dedent('''
        before = policies()
        import mmvitplug, mmvitplug.models, mmvitplug.converters, mmvitplug.utils
        import mmvitplug.engine, mmvitplug.utils.launch, mmvitplug.licences
        print(json.dumps(dict(before=before, after=policies())))
        ''')
    result = json.loads(run_python(['-c', script], check=True).stdout.splitlines()[-1])
    assert result['after'] == result['before']


# A runner checkpoint written by mmengine's Runner (HistoryBuffer and numpy objects in its
# message hub) of a toy model that trains in a second, loaded in the ways the tools and the
# hooks load it. argv: MODE WORK_DIR [CHECKPOINT].
RUNNER_SCRIPT = textwrap.dedent('''
    import sys
    import torch
    from mmengine.model import BaseModel
    from mmengine.registry import DATASETS, MODELS

    @MODELS.register_module()
    class BoundaryToy(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = self.fc(torch.stack(inputs))
            return dict(loss=out.pow(2).mean()) if mode == 'loss' else out

    @DATASETS.register_module()
    class BoundaryToyData(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return dict(inputs=torch.full((2, ), float(i)))

    def config(work_dir, max_iters, **extra):
        return dict(
            model=dict(type='BoundaryToy'), work_dir=work_dir,
            train_dataloader=dict(dataset=dict(type='BoundaryToyData'), batch_size=2,
                                  num_workers=0, collate_fn=dict(type='pseudo_collate'),
                                  sampler=dict(type='DefaultSampler', shuffle=False)),
            train_cfg=dict(by_epoch=False, max_iters=max_iters),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2,
                                               by_epoch=False)), **extra)

    mode, work_dir = sys.argv[1:3]
    ckpt = sys.argv[3] if len(sys.argv) > 3 else None
    if mode == 'write':  # mmengine alone
        from mmengine.runner import Runner
        Runner(**config(work_dir, 2)).train()
    elif mode == 'load':
        import mmvitplug
        from mmvitplug.utils import allow_runner_checkpoints
        from mmvitplug.utils.launch import check_checkpoint

        def loads():
            try:
                torch.load(ckpt, map_location='cpu', weights_only=True)
            except Exception as err:
                assert 'weights_only' in str(err), err
                return False
            return True

        states = [loads()]
        check_checkpoint(ckpt)  # the tools' check: its own allow-list, for itself only
        states.append(loads())
        allow_runner_checkpoints()
        check_checkpoint(ckpt)  # a scoped load keeps an earlier opt-in
        states.append(loads())
        print(*states)
    elif mode in ('hooks', 'no-hooks'):  # a config run by another script
        import mmvitplug
        from mmengine.runner import Runner
        hooks = [dict(type='RandomStateHook')] if mode == 'hooks' else []
        runner = Runner(**config(work_dir, 3, resume=True, load_from=ckpt, custom_hooks=hooks))
        runner.train()
        print('iter', runner.iter)
    elif mode == 'tools':  # the tools' runner, mmengine's hooks only
        from mmengine.config import Config
        from mmvitplug.utils.launch import build_runner
        runner = build_runner(Config(config(work_dir, 3, resume=True, load_from=ckpt,
                                            default_scope='mmpretrain')))
        runner.train()
        print('iter', runner.iter)
    ''')


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    """(script, a checkpoint written by mmengine's Runner after two iterations)."""
    folder = tmp_path_factory.mktemp('runner')
    script = folder / 'runner_script.py'
    script.write_text(RUNNER_SCRIPT)
    run_python([str(script), 'write', str(folder / 'work')], check=True)
    return script, folder / 'work' / 'iter_2.pth'


def test_runner_checkpoints_load_only_where_a_program_opts_in(runner_checkpoint, tmp_path):
    """After ``import mmvitplug`` safe loading still refuses mmengine's types; the tools' own
    check reads the file without allowing them for others, and an opt-in allows them."""
    script, ckpt = runner_checkpoint
    proc = run_python([str(script), 'load', str(tmp_path), str(ckpt)], check=True)
    assert proc.stdout.split()[-3:] == ['False', 'False', 'True']


@pytest.mark.parametrize('mode', ['tools', 'hooks'])
def test_runner_resumes_with_safe_loading_through_the_tools_and_the_hooks(
        mode, runner_checkpoint, tmp_path):
    """The tools' runner (build_runner) and a config naming mmvitplug's hooks resume from a
    runner checkpoint with torch's safe loading on; without either, mmengine's loader refuses
    it."""
    script, ckpt = runner_checkpoint
    proc = run_python([str(script), mode, str(tmp_path / 'work'), str(ckpt)], check=True)
    assert proc.stdout.split()[-2:] == ['iter', '3']
    assert (tmp_path / 'work' / 'iter_3.pth').is_file()


def test_without_an_opt_in_mmengine_refuses_runner_checkpoints(runner_checkpoint, tmp_path):
    script, ckpt = runner_checkpoint
    proc = run_python([str(script), 'no-hooks', str(tmp_path / 'work'), str(ckpt)])
    assert proc.returncode != 0 and 'weights_only' in proc.stderr


def test_installed_modules_name_only_installed_commands():
    """A message or docstring of the package never tells to run a repository script, and
    every ``python -m MODULE`` it names is importable."""
    for path in sorted((REPO / 'mmvitplug').rglob('*.py')):
        text = path.read_text()
        assert 'python tools/' not in text, path
        for module in re.findall(r'python -m ([\w.]+)', text):
            assert importlib.util.find_spec(module) is not None, (path, module)


def test_benchmark_fixtures_are_not_in_the_package():
    """The named backbones of the installed package are its own; the benchmarks' peers live
    in benchmarks/rivals.py, which the repository's tools add."""
    from mmvitplug.registry import registered_models
    from mmvitplug.utils.named_models import NAMED_BACKBONES
    spec = importlib.util.spec_from_file_location('rivals', REPO / 'benchmarks' / 'rivals.py')
    rivals = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rivals)
    ours = registered_models()
    assert NAMED_BACKBONES and all(cfg['type'] in ours for _, cfg in NAMED_BACKBONES.values())
    assert rivals.NAMED == {**NAMED_BACKBONES, **rivals.RIVALS}
    for path in (REPO / 'mmvitplug').rglob('*.py'):
        text = path.read_text()
        for name, (_, cfg) in rivals.RIVALS.items():
            assert repr(name) not in text and repr(cfg['type']) not in text, (path, name)


def test_one_licence_table_for_metadata_converter_and_docs():
    assert sorted(FAMILY_LICENCES) == sorted(CONVERTERS)
    assert not FAMILY_LICENCES['fastervit'].commercial_use  # NVIDIA Source Code License-NC
    assert FAMILY_LICENCES['biformer'].spdx == 'MIT'
    assert FAMILY_LICENCES['litv2'].spdx == 'Apache-2.0'
    proc = run_python(['setup.py', '--license', '--classifiers', '--long-description'],
                      check=True)
    assert proc.stdout.splitlines()[0] == PACKAGE_LICENCE == 'Apache-2.0'
    assert 'License :: OSI Approved :: Apache Software License' in proc.stdout
    for licence in FAMILY_LICENCES.values():  # the long description (README) cites the table
        assert licence.url in proc.stdout, licence
