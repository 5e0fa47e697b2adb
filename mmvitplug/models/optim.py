"""Optimisation pieces of the configs: layer-wise learning-rate decay for any model whose
backbone has ``get_layer_depth``, the warm-up + cosine schedule as one scheduler, and mixed
precision on any device (:class:`AutocastOptimWrapper`).

mmdet's and mmseg's own decay constructors only know ConvNeXt and BEiT; this one asks the
backbone for each parameter's layer, so it serves FasterViT, BiFormer and LITv2 (and any
backbone with the same method) in detectors, segmentors and classifiers alike::

    optim_wrapper = dict(
        type='OptimWrapper',
        constructor='BackboneLayerDecayOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        paramwise_cfg=dict(layer_decay_rate=0.9))

A parameter in layer ``i`` of ``n`` gets ``lr * layer_decay_rate ** (n - 1 - i)``: the stem
the smallest rate, the last layer and everything outside the backbone (neck, heads) the base
rate. Weight decay is 0 for norms, biases and other vectors (layer scales), and for the
parameters whose names contain one of ``no_decay_names``: by default the position encodings
(``pos_embed``: FasterViT's absolute position MLPs, BiFormer's depthwise position convs),
FasterViT's continuous relative position bias MLPs (``pos_bias``) and carrier-token
initialisation (``carrier_init``). ``lr_mult`` scales the rate of parameters by name fragment,
e.g. ``dict(conv_offset=0.01)`` for LITv2's deformable-merging offsets as the authors train them.
"""
import math
from contextlib import contextmanager
from typing import List, Optional

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, PARAM_SCHEDULERS

__all__ = ['AutocastOptimWrapper', 'BackboneLayerDecayOptimWrapperConstructor', 'WarmupCosineLR']

NO_DECAY_NAMES = ('pos_embed', 'pos_bias', 'carrier_init')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BackboneLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimizer-wrapper constructor with layer-wise lr decay from ``backbone.get_layer_depth``.

    Args:
        optim_wrapper_cfg: the ``optim_wrapper`` config (``optimizer`` with ``lr`` and
            ``weight_decay``).
        paramwise_cfg: ``layer_decay_rate`` (default 1.0: no decay), ``no_decay_names``
            (name fragments of parameters without weight decay, default
            :data:`NO_DECAY_NAMES`) and ``lr_mult`` (name fragment -> lr multiplier, applied on
            top of the layer decay; default none); other keys are refused.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = set(paramwise_cfg) - {'layer_decay_rate', 'no_decay_names', 'lr_mult'}
        if unknown:
            raise ValueError(f'{type(self).__name__} takes layer_decay_rate, no_decay_names and '
                             f'lr_mult in paramwise_cfg, got {sorted(unknown)}')
        self.layer_decay_rate = float(paramwise_cfg.pop('layer_decay_rate', 1.0))
        if not 0.0 < self.layer_decay_rate <= 1.0:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {self.layer_decay_rate}')
        self.no_decay_names = tuple(paramwise_cfg.pop('no_decay_names', NO_DECAY_NAMES))
        self.lr_mult = {str(k): float(v) for k, v in paramwise_cfg.pop('lr_mult', {}).items()}
        # A non-empty paramwise_cfg makes the base class call add_params.
        super().__init__(optim_wrapper_cfg, dict(layer_decay_rate=self.layer_decay_rate))

    def add_params(self, params: List[dict], module: nn.Module, **kwargs) -> None:
        """One parameter group per (layer, with or without weight decay)."""
        backbone = getattr(module, 'backbone', module)
        if not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(f'{type(self).__name__} needs a backbone with get_layer_depth; '
                            f'{type(backbone).__name__} has none')
        prefix = 'backbone.' if backbone is not module else ''
        groups, num_layers = {}, 0
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            layer, num_layers = backbone.get_layer_depth(name, prefix=prefix)
            no_decay = param.ndim <= 1 or any(k in name for k in self.no_decay_names)
            mult = next((m for k, m in self.lr_mult.items() if k in name), 1.0)
            key = (layer, no_decay, mult)
            if key not in groups:
                scale = self.layer_decay_rate**(num_layers - 1 - layer) * mult
                groups[key] = dict(params=[], lr=self.base_lr * scale, lr_scale=scale,
                                   weight_decay=0.0 if no_decay else self.base_wd,
                                   param_names=[])
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        for key in sorted(groups):
            params.append(groups[key])
        MMLogger.get_current_instance().info(
            f'layer-wise lr decay {self.layer_decay_rate}: {len(groups)} parameter groups over '
            f'{num_layers} layers, '
            f'{sum(len(g["params"]) for g in groups.values() if g["weight_decay"] == 0)} '
            'parameters without weight decay')


@PARAM_SCHEDULERS.register_module()
class WarmupCosineLR(LRSchedulerMixin, _ParamScheduler):
    """Linear warm-up, then cosine decay: mmengine's ``LinearLR(start_factor, end=warmup)``
    followed by ``CosineAnnealingLR(eta_min, begin=warmup, end=end)``, as one scheduler.

    Being one dict, it lets a config change one number of its base's schedule
    (``param_scheduler = dict(warmup=35)``) where a list of two schedulers would have to be
    restated whole. The learning rates are those of the two chained schedulers (closed form;
    tested against them), and after ``end`` the rate stays at the last one (a cool-down at
    about ``eta_min`` where training runs longer than ``end``).

    Args:
        optimizer: the optimizer (wrapper).
        warmup: length of the linear warm-up (epochs with ``by_epoch``, else iterations),
            counted from ``begin``.
        warmup_start_factor: the first step's fraction of each group's rate.
        eta_min: the rate the cosine decays to (absolute, every group).
        begin, end: where the schedule starts and ends (``end`` is needed).
        cosine_from_begin: False (default): the cosine starts where the warm-up ends, as the
            mmengine chain above. True: the cosine spans ``[begin, end]`` and the warm-up
            replaces its first steps, as timm's ``CosineLRScheduler`` (the authors' ImageNet
            trainers): the rate ramps from ``warmup_start_factor`` towards the full rate over
            ``warmup`` steps (``start + (1 - start) * t / warmup``), then follows the cosine
            from its value at ``warmup``.
        last_step, by_epoch, verbose: as mmengine's schedulers (``convert_to_iter_based=True``
            in the config steps per iteration, warm-up included).
    """

    def __init__(self, optimizer, warmup: int, warmup_start_factor: float = 1e-3,
                 eta_min: float = 0.0, begin: int = 0, end: int = INF,
                 cosine_from_begin: bool = False, last_step: int = -1, by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if not 0.0 <= warmup_start_factor <= 1.0:
            raise ValueError(f'warmup_start_factor must be in [0, 1], got {warmup_start_factor}')
        if end == INF or not 0 <= warmup < end - begin:
            raise ValueError(f'WarmupCosineLR needs a finite end after the warm-up, got '
                             f'warmup={warmup}, begin={begin}, end={end}')
        self.warmup = warmup
        self.warmup_start_factor = warmup_start_factor
        self.eta_min = eta_min
        self.cosine_from_begin = cosine_from_begin
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, warmup: int, begin: int = 0, end: int = INF,
                              by_epoch: bool = True, epoch_length: Optional[int] = None,
                              **kwargs) -> 'WarmupCosineLR':
        """The scheduler with ``warmup``, ``begin`` and ``end`` given in epochs, stepping per
        iteration."""
        if not by_epoch or not epoch_length:
            raise ValueError('convert_to_iter_based needs by_epoch=True and the epoch length')
        return cls(*args, warmup=warmup * epoch_length, begin=int(begin * epoch_length),
                   end=end if end == INF else int(end * epoch_length), by_epoch=False, **kwargs)

    def _get_value(self) -> List[float]:
        t, warmup, span = self.last_step, self.warmup, self.end - self.begin
        if t < warmup:
            if self.cosine_from_begin:  # timm: the full rate would come at step `warmup`
                ramp = t / warmup
            else:  # LinearLR reaches the full rate at its last step (warmup - 1)
                ramp = 1.0 if warmup <= 1 else t / (warmup - 1)
            factor = self.warmup_start_factor + (1.0 - self.warmup_start_factor) * ramp
            return [base * factor for base in self.base_values]
        if self.cosine_from_begin:
            cosine = (1 + math.cos(math.pi * t / span)) / 2
        else:
            cosine = (1 + math.cos(math.pi * (t - warmup) / (span - warmup))) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_values]


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose training forward runs under ``torch.autocast`` in bfloat16, on
    any device: CPU training in mixed precision, which mmengine's ``AmpOptimWrapper`` refuses
    (it needs a CUDA, NPU or MLU device). Set it in the config, or on the command line of a
    training script that takes mmengine's ``--cfg-options`` (such as the repository's
    ``tools/train.py``)::

        --cfg-options optim_wrapper.type=AutocastOptimWrapper

    There is no loss scaling: bfloat16 has float32's range. float16 needs loss scaling, so it
    is refused here (on GPUs use ``--amp``, mmengine's ``AmpOptimWrapper``).

    Args:
        dtype: the autocast dtype, ``'bfloat16'``.
        **kwargs: as mmengine's ``OptimWrapper`` (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs) -> None:
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(f'AutocastOptimWrapper runs bfloat16 (no loss scaling), got dtype='
                             f'{dtype!r}; float16 needs a loss scale: use mmengine\'s '
                             'AmpOptimWrapper on a GPU')
        super().__init__(**kwargs)
        self.dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module):
        device = next(model.parameters()).device
        with super().optim_context(model), torch.autocast(device.type, dtype=self.dtype):
            yield
