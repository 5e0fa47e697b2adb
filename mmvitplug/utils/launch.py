"""Shared logic of the repository's train and test tools (``tools/train.py``, ``tools/test.py``)
and of scripts that run mmvitplug configs the same way.

The tools serve every config of the project whatever its task: the config's ``default_scope``
(``mmdet``, ``mmseg`` or ``mmpretrain``) picks the toolbox whose runner registry builds the
runner. Problems a user can fix (missing config, unknown scope, missing dataset) raise
:class:`LaunchError` with a message that says what to do; the tools print it without a traceback.
"""
import argparse
import os
import os.path as osp
from importlib import import_module
from importlib.util import find_spec
from inspect import signature
from typing import Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config, ConfigDict, DictAction

__all__ = [
    'LaunchError', 'SCOPES', 'add_common_arguments', 'export_local_rank', 'load_config',
    'get_scope', 'build_runner', 'check_datasets', 'check_pretrained', 'apply_launch_args',
    'enable_amp', 'enable_visualization', 'check_checkpoint', 'choose_resume_checkpoint',
    'check_checkpoint_fits', 'registered_backbone', 'strategy_type', 'use_single_process_runner'
]

# default_scope -> (package that provides it, how to install it)
SCOPES = {
    'mmdet': ('mmdet', "pip install 'mmdet>=3.0,<3.4'"),
    'mmseg': ('mmseg', "pip install 'mmsegmentation>=1.0,<1.3' ftfy regex"),
    'mmpretrain': ('mmpretrain', "pip install 'mmpretrain>=1.0,<1.3'"),
}


class LaunchError(Exception):
    """An error the user can fix; the tools print its message and exit with status 2."""


def add_common_arguments(parser: argparse.ArgumentParser, example: str) -> None:
    """``--cfg-options``, ``--launcher`` and ``--local-rank``, shared by the tools."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help=f'override config settings, e.g. {example}')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def export_local_rank(args: argparse.Namespace) -> None:
    """torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK itself."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))


def _require_cuda(option: str, why: str) -> None:
    """Options that mmengine 0.10 can only honour on GPUs fail early with the reason."""
    if not torch.cuda.is_available():
        raise LaunchError(f'{option} needs CUDA GPUs ({why}); none is available here')


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file, apply ``--cfg-options`` and check its scope is usable."""
    if not osp.isfile(path):
        hint = ''
        if not path.endswith('.py') and osp.isfile(path + '.py'):
            hint = f' (did you mean {path}.py?)'
        raise LaunchError(f'config file not found: {path}{hint}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    get_scope(cfg, path)
    return cfg


def get_scope(cfg: Config, path: str = 'the config') -> str:
    """The config's ``default_scope``, checked to be one the tools can run and installed."""
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        known = ', '.join(repr(s) for s in SCOPES)
        what = 'has no default_scope' if scope is None else f'has default_scope={scope!r}'
        raise LaunchError(f'{path} {what}; the tools run configs whose default_scope is one '
                          f'of {known} (set it in the config or its _base_ runtime file)')
    package, install = SCOPES[scope]
    if find_spec(package) is None:
        raise LaunchError(f'{path} needs {package} (default_scope={scope!r}), which is not '
                          f'installed: {install}')
    return scope


def build_runner(cfg: Config):
    """Build the runner through the registry of the config's toolbox.

    Opts the process in to loading runner checkpoints under torch's safe loading
    (:func:`~mmvitplug.utils.checkpoint.allow_runner_checkpoints`): the runner resumes,
    tests or loads them with mmengine's loader.
    """
    from .checkpoint import allow_runner_checkpoints
    allow_runner_checkpoints()
    scope = get_scope(cfg)
    registry = import_module(f'{SCOPES[scope][0]}.registry')
    if 'runner_type' in cfg:
        return registry.RUNNERS.build(cfg)
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg)


def apply_launch_args(cfg: Config, config_path: str, work_dir: Optional[str],
                      launcher: str) -> None:
    """``--work-dir`` (default ``work_dirs/<config name>``) and ``--launcher``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])
    if launcher == 'none':
        use_single_process_runner(
            cfg, 'shards the model over processes (in the mmvitplug repository: '
            'bash tools/dist_train.sh CONFIG N)')
    elif launcher == 'pytorch' and not torch.cuda.is_available():
        _init_cpu_processes(cfg)
    else:
        _require_cuda(f'--launcher {launcher}',
                      'mmengine binds each process to one; use --launcher none or pytorch')
    cfg.launcher = launcher


def strategy_type(cfg: Config) -> Optional[str]:
    """The name of the strategy of a config run by mmengine's ``FlexibleRunner`` (e.g.
    ``'FSDPStrategy'``, from ``configs/_base_/recipes/fsdp.py``); None for mmengine's Runner."""
    if cfg.get('runner_type') != 'FlexibleRunner' or not cfg.get('strategy'):
        return None
    kind = cfg.strategy.get('type', 'DDPStrategy')
    return kind.split('.')[-1] if isinstance(kind, str) else kind.__name__


def use_single_process_runner(cfg: Config, why: str) -> None:
    """Run a ``FlexibleRunner`` config whose strategy spans processes (FSDP, DeepSpeed, DDP)
    with mmengine's Runner in this one process, saying so: sharding needs a process group, and
    its checkpoints (whole models, ``state_dict_cfg='full'``) load into an unsharded model."""
    kind = strategy_type(cfg)
    if kind is None or kind == 'SingleDeviceStrategy':
        return
    print(f"note: the config's {kind} {why}; this process runs with mmengine's Runner")
    cfg.pop('runner_type')
    cfg.pop('strategy')


def _init_cpu_processes(cfg: Config) -> None:
    """Data-parallel training on CPUs (``torchrun`` without GPUs) over the gloo backend.

    mmengine 0.10 would bind every process to ``cuda:LOCAL_RANK`` when it initialises the
    process group and wraps the model; the group is initialised here instead (mmengine then
    skips its own) and the model wrapper (Runner's ``model_wrapper_cfg``, or a FlexibleRunner
    strategy's ``model_wrapper``) is told that the module lives on the CPU.
    """
    import torch.distributed as dist
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise LaunchError(f'--launcher pytorch needs the variables torchrun sets '
                          f'({", ".join(missing)} missing): start it with torchrun (in the '
                          'mmvitplug repository: bash tools/dist_train.sh CONFIG N)')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                world_size=int(os.environ['WORLD_SIZE']))
    cfg.setdefault('env_cfg', ConfigDict()).setdefault('dist_cfg', ConfigDict())
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    kind = strategy_type(cfg)
    if kind is not None:  # FlexibleRunner: the strategy wraps the model
        if kind not in ('DDPStrategy', 'FSDPStrategy'):
            raise LaunchError(f"the config's {kind} needs CUDA GPUs; on CPUs FlexibleRunner "
                              'trains with DDPStrategy or FSDPStrategy')
        wrapper = cfg.strategy.get('model_wrapper') or ConfigDict()
        if kind == 'DDPStrategy':
            wrapper.device_ids = None
        else:  # FSDP looks for an accelerator unless told the device
            wrapper.device_id = 'cpu'
        cfg.strategy.model_wrapper = wrapper
        return
    wrapper = ConfigDict(type='MMDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.update(cfg.get('model_wrapper_cfg') or {})
    wrapper.device_ids = None  # CPU modules take no device ids
    cfg.model_wrapper_cfg = wrapper


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mixed precision (``--amp``)."""
    _require_cuda('--amp', "mmengine's AmpOptimWrapper refuses to train on CPU; for bfloat16 "
                  'mixed precision on CPU use --cfg-options '
                  'optim_wrapper.type=AutocastOptimWrapper instead of --amp')
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper == 'AmpOptimWrapper':
        return
    if optim_wrapper != 'OptimWrapper':
        raise LaunchError(f'--amp needs optim_wrapper.type OptimWrapper or AmpOptimWrapper, '
                          f'the config has {optim_wrapper!r}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def enable_visualization(cfg: Config, show_dir: str) -> None:
    """Draw test predictions into ``show_dir`` through the scope's visualization hook."""
    hooks = cfg.get('default_hooks') or {}
    if 'visualization' not in hooks:
        raise LaunchError('--show-dir needs a `visualization` hook in default_hooks, '
                          'which this config does not define')
    hook = hooks['visualization']
    scope = get_scope(cfg)
    if scope == 'mmdet':
        hook.update(draw=True, test_out_dir=osp.abspath(show_dir))
    elif scope == 'mmseg':
        hook.update(draw=True, interval=1)
        cfg.visualizer['save_dir'] = show_dir
    else:
        hook.update(enable=True, out_dir=osp.abspath(show_dir))


def _datasets(cfg: Config) -> Iterator[Tuple[str, ConfigDict]]:
    """(dataloader name, leaf dataset config) for every dataloader the config defines."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if not loader or not loader.get('dataset'):
            continue
        stack = [loader.dataset]
        while stack:
            ds = stack.pop()
            if isinstance(ds, (list, tuple)):
                stack.extend(ds)
            elif 'datasets' in ds:  # ConcatDataset
                stack.extend(ds.datasets)
            elif 'dataset' in ds:  # RepeatDataset, ClassBalancedDataset, ...
                stack.append(ds.dataset)
            else:
                yield name, ds


def _dataset_paths(ds: ConfigDict) -> List[str]:
    root = ds.get('data_root') or ''
    paths = [root] if root else []
    ann_file = ds.get('ann_file')
    if ann_file:
        paths.append(ann_file if osp.isabs(ann_file) else osp.join(root, ann_file))
    prefix = ds.get('data_prefix')
    prefixes = prefix.values() if isinstance(prefix, dict) else [prefix] if prefix else []
    for p in prefixes:
        if isinstance(p, str) and p and '://' not in p:
            paths.append(p if osp.isabs(p) else osp.join(root, p))
    return paths


def check_datasets(cfg: Config, which: Tuple[str, ...]) -> None:
    """Fail early, with the config's ``data_hint``, when a dataset path does not exist.

    Args:
        which: dataloader names to check, e.g. ``('train_dataloader', 'val_dataloader')``.
    """
    for name, ds in _datasets(cfg):
        if name not in which:
            continue
        for path in _dataset_paths(ds):
            if '://' in path or osp.exists(path):
                continue
            hint = cfg.get('data_hint')
            msg = f'dataset path not found: {path} (used by {name}, type={ds.get("type")})'
            if hint:
                msg += f'\n{hint}'
            raise LaunchError(msg)


def _model_parts(cfg, path: str = 'model') -> Iterator[Tuple[str, dict]]:
    """(dotted path, dict) for the model config and every dict nested in it."""
    if isinstance(cfg, dict):
        yield path, cfg
        for key, value in cfg.items():
            yield from _model_parts(value, f'{path}.{key}')
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            yield from _model_parts(value, f'{path}[{i}]')


def registered_backbone(model_type) -> Optional[type]:
    """The mmvitplug backbone class a config's ``type`` names (``'FasterViT'``,
    ``'mmvitplug.FasterViT'``, or the class), looked up in mmvitplug's registry; None for
    anything else."""
    from mmvitplug.models.backbones.base import HierarchicalBackbone
    from mmvitplug.registry import registered_models
    if not isinstance(model_type, type):
        model_type = registered_models().get(str(model_type).split('.')[-1])
    if isinstance(model_type, type) and issubclass(model_type, HierarchicalBackbone):
        return model_type
    return None


def check_pretrained(cfg: Config) -> None:
    """Fail early when a ``Pretrained`` ``init_cfg`` names a local file that does not exist.

    For mmvitplug's backbones the message names the authors' release and the converter command
    that writes the file; mmengine would otherwise fail only after building everything.
    """
    from mmvitplug.models.backbones.base import missing_pretrained_checkpoint
    for path, part in _model_parts(cfg.get('model')):
        checkpoint = missing_pretrained_checkpoint(part.get('init_cfg'))
        if checkpoint is None:
            continue
        backbone = registered_backbone(part.get('type'))
        if backbone is not None:
            arch = part.get('arch', signature(backbone).parameters['arch'].default)
            raise LaunchError(backbone.missing_checkpoint_message(checkpoint, arch))
        raise LaunchError(f'pretrained checkpoint not found: {checkpoint} (init_cfg of {path})')


def check_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """Fail early, naming the file and the problem, when a runner checkpoint to test, resume
    or load does not load safely, holds no state_dict or holds NaN/inf weights; its weights
    (memory-mapped) otherwise."""
    from .checkpoint import CheckpointError, read_state_dict
    try:
        return read_state_dict(path, mmap=True)
    except CheckpointError as err:
        raise LaunchError(str(err)) from None


def choose_resume_checkpoint(cfg: Config, resume: str) -> None:
    """``--resume`` (``'auto'``: the newest checkpoint of the work dir that loads, skipping
    cut-off files with a message; otherwise the given file, checked) into ``cfg.resume`` /
    ``cfg.load_from``. With no loadable checkpoint, ``'auto'`` trains from the start, as
    mmengine does for an empty work dir."""
    from .checkpoint import latest_loadable_checkpoint
    if resume == 'auto':
        found = latest_loadable_checkpoint(cfg.work_dir)
        if found is None:
            print(f'resume: no loadable checkpoint in {cfg.work_dir}; training from the start')
            cfg.resume, cfg.load_from = False, None
            return
        resume = found
    elif not osp.isfile(resume):
        raise LaunchError(f'checkpoint to resume from not found: {resume}')
    check_checkpoint(resume)
    cfg.resume, cfg.load_from = True, resume


def check_checkpoint_fits(model: torch.nn.Module, state_dict: Dict[str, torch.Tensor],
                          path: str, max_missing: float = 0.01) -> None:
    """Fail when the checkpoint ``path`` to evaluate (its weights: ``state_dict``, from
    :func:`check_checkpoint`) leaves more than ``max_missing`` of the model's values unloaded
    (mmengine's loader would only log the missing keys and evaluate a partly random model)."""
    from mmengine.model import is_model_wrapper

    from .checkpoint import match_state_dict
    if is_model_wrapper(model):
        model = model.module
    report = match_state_dict(model.state_dict(), state_dict)
    if report.unloaded_fraction > max_missing:
        raise LaunchError(f'checkpoint {path} does not fit the config\'s model: '
                          f'{report.describe()}. Is it a checkpoint of another config?')
