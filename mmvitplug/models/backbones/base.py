"""Plumbing shared by the four-stage backbones: arch lookup, input checks, output selection,
gradient checkpointing, freezing, ``norm_eval`` and layer ids for lr decay.

A subclass builds ``patch_embed``, ``stages`` (each with ``blocks`` and optionally
``downsample``) and ``norm{i}`` for ``i`` in ``out_indices``, sets ``depths``, and implements
``_stages(x, num_stages)``, a generator of ``(index, NCHW stage feature)``.
"""
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.utils.checkpoint import checkpoint


class HierarchicalBackbone(BaseModule):
    """Base of :class:`FasterViT`, :class:`BiFormer` and :class:`LITv2` (not registered).

    Args:
        in_channels: input image channels.
        out_indices: stages whose (normalised) features ``forward`` returns; negative indices
            count from the last stage.
        frozen_stages: freeze the stem (0) and stages ``0..frozen_stages-1`` (>= 1), with their
            output norms; -1 freezes nothing.
        norm_eval: keep BatchNorm layers in eval mode during training.
        with_cp: gradient checkpointing of every block (saves memory, costs time).
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')``.
    """

    family: str = ''
    arch_zoo: Dict[str, dict] = {}
    #: variant -> (file name, where to get it) of the authors' ImageNet weights, named in the
    #: error raised when a configured pretrained checkpoint is missing
    released_checkpoints: Dict[str, Tuple[str, str]] = {}
    arch_keys: Tuple[str, ...] = ()
    num_stages = 4
    min_size = 32

    def __init__(self, in_channels: int, out_indices: Sequence[int], frozen_stages: int,
                 norm_eval: bool, with_cp: bool,
                 init_cfg: Optional[Union[dict, List[dict]]]) -> None:
        super().__init__(init_cfg)
        n = self.num_stages
        if not out_indices or any(not -n <= i < n for i in out_indices):
            raise ValueError(f'out_indices must index the {n} stages, got {tuple(out_indices)}')
        if not -1 <= frozen_stages <= n:
            raise ValueError(f'frozen_stages must be in [-1, {n}], got {frozen_stages}')
        self.in_channels = in_channels
        self.out_indices = tuple(i % n for i in out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.depths: Tuple[int, ...] = ()
        self.arch_name: Optional[str] = None  # the arch_zoo key, None for a dict arch

    def _arch_settings(self, arch: Union[str, dict]) -> dict:
        """Hyper-parameters of ``arch`` (a zoo key or a dict); records ``arch_name``."""
        if isinstance(arch, str):
            key = arch.lower()
            if key not in self.arch_zoo:
                raise ValueError(f'unknown {self.family} arch {arch!r}; choose one of '
                                 f'{sorted(self.arch_zoo)} or pass a dict')
            self.arch_name = key
            return dict(self.arch_zoo[key])
        missing = set(self.arch_keys) - set(arch)
        if missing:
            raise ValueError(f'{self.family} arch dict misses {sorted(missing)}')
        return dict(arch)

    @classmethod
    def missing_checkpoint_message(cls, checkpoint: str, arch: Optional[str] = None) -> str:
        """What to do when the pretrained ``checkpoint`` of an ``init_cfg`` does not exist:
        the authors' release of ``arch`` and the converter command that writes the file."""
        release = cls.released_checkpoints.get(str(arch).lower())
        if release is not None:
            source, where = release
            get = f"the authors' ImageNet weights of {cls.family} arch {arch!r} ({where})"
        else:
            source = 'OFFICIAL_CHECKPOINT'
            get = f"the authors' ImageNet weights of this {cls.family} variant"
        return (f'pretrained checkpoint not found: {checkpoint}. Download {get}, then convert '
                f'them: python tools/model_converters/{cls.family.lower()}_to_mmvitplug.py '
                f'{source} {checkpoint} (or train from scratch: --cfg-options '
                'model.backbone.init_cfg=None)')

    # ------------------------------------------------------------------ forward
    def _check_input(self, x: torch.Tensor) -> None:
        expected = f'(N, {self.in_channels}, H, W)'
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{self.family} expects {expected} input, got shape '
                             f'{tuple(x.shape)}')
        if not x.is_floating_point():
            raise ValueError(f'{self.family} expects a floating-point {expected} input, got '
                             f'dtype {x.dtype}')
        if min(x.shape[2:]) < self.min_size:
            raise ValueError(f'{self.family} needs H, W >= {self.min_size} (four stages down to '
                             f'stride 32), got {tuple(x.shape[2:])}')

    def _checkpointed(self, module: nn.Module, *args):
        """``module(*args)``, through gradient checkpointing when ``with_cp`` and training."""
        if self.with_cp and torch.is_grad_enabled() and any(
                isinstance(a, torch.Tensor) and a.requires_grad for a in args):
            return checkpoint(module, *args, use_reentrant=False)
        return module(*args)

    def _stages(self, x: torch.Tensor, num_stages: int) -> Iterator[Tuple[int, torch.Tensor]]:
        raise NotImplementedError

    def forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The four raw stage features (NCHW), before downsampling and output norms."""
        self._check_input(x)
        return [feat.contiguous() for _, feat in self._stages(x, self.num_stages)]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Features of ``out_indices`` (NCHW, strides 4/8/16/32), each through ``norm{i}``.

        The stages may compute in channels-last memory; the outputs are returned in contiguous
        NCHW memory because compiled ops downstream read raw NCHW strides: mmcv's RoIAlign, for
        one, silently returns wrong values for a channels-last map (and FPN's convs keep the
        layout of their input).
        """
        self._check_input(x)
        outs = []
        for i, feat in self._stages(x, max(self.out_indices) + 1):
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(feat).contiguous())
        return tuple(outs)

    # ------------------------------------------------------------------ training utilities
    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.patch_embed] + [self.stages[i] for i in range(self.frozen_stages)]
        frozen += [getattr(self, f'norm{i}') for i in range(self.frozen_stages)
                   if i in self.out_indices]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def init_weights(self) -> None:
        """Pretrained weights through ``init_cfg``; otherwise the authors' scheme: truncated
        normal (std 0.02) linear weights with zero biases, unit/zero norms, PyTorch's default
        for convolutions."""
        if self.init_cfg is not None:
            checkpoint = missing_pretrained_checkpoint(self.init_cfg)
            if checkpoint is not None:
                # mmengine would fail deep inside its loader (or, with a prefix, load nothing).
                raise FileNotFoundError(self.missing_checkpoint_message(checkpoint,
                                                                        self.arch_name))
            super().init_weights()
            return
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.LayerNorm, nn.modules.batchnorm._BatchNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer id of a parameter for layer-wise lr decay, and the number of layers.

        The stem is layer 0, block ``j`` of stage ``i`` is ``1 + sum(depths[:i]) + j``; a
        stage's downsampling shares the id of the stage's last block, other stage-level modules
        (which run before the blocks) the id of its first block; everything else (output
        norms, heads, names outside ``prefix``) is the last layer.
        """
        num_layers = sum(self.depths) + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name.startswith('patch_embed.'):
            return 0, num_layers
        if name.startswith('stages.'):
            parts = name.split('.')
            stage = int(parts[1])
            first = 1 + sum(self.depths[:stage])
            if parts[2] == 'blocks':
                return first + int(parts[3]), num_layers
            if parts[2] == 'downsample':
                return sum(self.depths[:stage + 1]), num_layers
            return first, num_layers
        return num_layers - 1, num_layers


def missing_pretrained_checkpoint(
        init_cfg: Optional[Union[dict, List[dict]]]) -> Optional[str]:
    """The local file a ``Pretrained`` ``init_cfg`` loads when it does not exist (None when it
    exists, for URLs and for other inits)."""
    for cfg in init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]:
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            checkpoint = cfg.get('checkpoint')
            if isinstance(checkpoint, str) and '://' not in checkpoint \
                    and not osp.isfile(checkpoint):
                return checkpoint
    return None
