"""The skeleton shared by the three backbones (:class:`HierarchicalBackbone`): arch settings
(zoo entry or dict, merged with constructor overrides in one place), ``feature_info``, a stem
and four :class:`Stage` s (blocks, then a downsampling), output norms, input checks, gradient
checkpointing, freezing, ``norm_eval`` and layer ids for lr decay.

A family subclass declares its ``arch_zoo``, ``arch_defaults`` and ``required_arch_keys`` and
builds its parts in :meth:`~HierarchicalBackbone._make_stem` and
:meth:`~HierarchicalBackbone._make_stage`; the forward pass is the skeleton's. Between stages
maps are NCHW tensors in channels-last memory (the convs run faster on it, and the blocks'
(B, H, W, C) token views of it are contiguous).
"""
import os.path as osp
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule, initialize
from torch.utils.checkpoint import checkpoint

from ...licences import FAMILY_LICENCES
from ..layers import LayerNorm2d, calculate_drop_path_rates, init_transformer_weights
from .pretrained import load_pretrained

#: Kinds of output norm (``out_norms``): a fresh LayerNorm or BatchNorm, none, or the released
#: classifier's final norm (last stage only: the one a converted ImageNet checkpoint fills).
OUT_NORM_KINDS = ('LN', 'BN', None, 'classifier')


class Stage(nn.Module):
    """One stage: its blocks, then (except after the last stage) the downsampling that feeds
    the next one. The backbone calls the downsampling itself, only where a later stage needs
    it.

    Args:
        blocks: the blocks, each NCHW map -> NCHW map.
        downsample: the module halving the map for the next stage, or None.
    """

    def __init__(self, blocks: Sequence[nn.Module], downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample

    def run_blocks(self, x: torch.Tensor, run: Callable[..., torch.Tensor]) -> torch.Tensor:
        """The blocks on an NCHW map; ``run(block, *inputs)`` calls one block (the backbone
        passes its gradient-checkpointing wrapper)."""
        for block in self.blocks:
            x = run(block, x)
        return x


class HierarchicalBackbone(BaseModule):
    """Base of :class:`FasterViT`, :class:`BiFormer` and :class:`LITv2` (not registered).

    Args:
        arch: a key of ``arch_zoo`` or a dict of arch settings (``required_arch_keys`` plus any
            key of ``arch_defaults``; per-stage keys take one value per stage or one value for
            all, and an int ``embed_dims`` is the first stage's width, doubled at every stage).
        in_channels: input image channels.
        out_indices: stages whose (normalised) features ``forward`` returns; negative indices
            count from the last stage.
        frozen_stages: freeze the stem (0) and stages ``0..frozen_stages-1`` (>= 1), with their
            output norms; -1 freezes nothing.
        norm_eval: keep BatchNorm layers in eval mode during training.
        with_cp: gradient checkpointing of every block (saves memory, costs time).
        drop_path_rate: stochastic depth, rising linearly over all blocks from 0 to this rate;
            None takes the arch's.
        out_norms: the output norm of each stage (``norm{i}``), one kind per stage or one for
            all: ``'LN'`` (a fresh LayerNorm), ``'BN'`` (a fresh BatchNorm), None (no norm) or
            ``'classifier'`` (last stage only: the released classifier's final norm, loaded
            from a converted ImageNet checkpoint). None takes ``default_out_norms``. The
            authors' dense models start every output norm fresh (a classifier's final norm is
            then not loaded), e.g. BiFormer's ``'LN'`` and LITv2's detection backbone's
            ``(None, 'LN', 'LN', 'LN')``.
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')``; nothing is loaded at construction. A ``Pretrained`` file
            must fit: one that would leave more than ``max_unloaded`` (default 0.01) of the
            backbone's values unloaded raises; the authors' original layout is converted on
            the fly (see :func:`~.pretrained.load_pretrained`).
        **overrides: the family's arch settings given as constructor arguments (its knobs);
            None keeps the arch's value.

    Attributes:
        arch_settings: the merged settings the model was built from (per-stage values as
            tuples).
        embed_dims: per-stage widths.
        depths: blocks per stage.
        feature_info: one dict per stage, as timm's: ``num_chs`` (width), ``reduction``
            (stride: 4, 8, 16, 32) and ``module`` (name of the stage); the single source of the
            output widths.
    """

    family: str = ''
    arch_zoo: Dict[str, dict] = {}
    #: every optional arch setting with its default; a dict arch may set any of them
    arch_defaults: Dict[str, object] = {}
    #: settings a dict arch must give
    required_arch_keys: Tuple[str, ...] = ()
    #: settings with one value per stage (a single value is repeated, see ``arch``)
    per_stage_keys: Tuple[str, ...] = ('embed_dims', 'depths')
    #: variant -> (file name, where to get it) of the authors' ImageNet weights, named in the
    #: error raised when a configured pretrained checkpoint is missing
    released_checkpoints: Dict[str, Tuple[str, str]] = {}
    #: output norms when ``out_norms`` is None: fresh LayerNorms, and the classifier's norm on
    #: the last stage (so that an ImageNet checkpoint fills every norm it has)
    default_out_norms: Tuple[Optional[str], ...] = ('LN', 'LN', 'LN', 'classifier')
    #: eps of the fresh LayerNorm output norms (the authors' dense models')
    layer_norm_eps = 1e-6
    num_stages = 4
    min_size = 32

    def __init__(self,
                 arch: Union[str, dict],
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: Optional[float] = None,
                 out_norms: Optional[Union[str, Sequence[Optional[str]]]] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 **overrides) -> None:
        super().__init__(init_cfg)
        n = self.num_stages
        if not -1 <= frozen_stages <= n:
            raise ValueError(f'frozen_stages must be in [-1, {n}], got {frozen_stages}')
        self.in_channels = in_channels
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        #: the arch_zoo key, None for a dict arch
        self.arch_name: Optional[str] = arch.lower() if isinstance(arch, str) else None
        cfg = self.arch_settings_of(arch, drop_path_rate=drop_path_rate, **overrides)
        self.arch_settings = cfg
        self.embed_dims: Tuple[int, ...] = cfg['embed_dims']
        self.depths: Tuple[int, ...] = cfg['depths']
        self.feature_info = [
            dict(num_chs=c, reduction=2**(i + 2), module=f'stages.{i}')
            for i, c in enumerate(self.embed_dims)
        ]
        # Outputs are chosen among, and their norms sized by, the stages of feature_info.
        outputs = len(self.feature_info)
        if not out_indices or any(not -outputs <= i < outputs for i in out_indices):
            raise ValueError(f'out_indices must index the {outputs} stages, got '
                             f'{tuple(out_indices)}')
        self.out_indices = tuple(i % outputs for i in out_indices)
        #: the kind of each stage's output norm (see ``out_norms``)
        self.out_norms = self._out_norm_kinds(out_norms)

        self.patch_embed = self._make_stem(cfg)
        rates = calculate_drop_path_rates(cfg['drop_path_rate'], self.depths)
        self.stages = nn.ModuleList(self._make_stage(i, cfg, rates[i]) for i in range(n))
        for i in self.out_indices:
            self.add_module(f'norm{i}', self._make_out_norm(i, self.out_norms[i], cfg))
        self._freeze_stages()

    # ------------------------------------------------------------------ arch settings
    @classmethod
    def arch_settings_of(cls, arch: Union[str, dict], **overrides) -> dict:
        """The settings a model built with ``arch`` and constructor ``overrides`` uses:
        ``arch_defaults``, updated by the zoo entry or dict ``arch``, then by the non-None
        ``overrides``; per-stage values as tuples; checked by the family's rules."""
        family = cls.family
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise ValueError(f'unknown {family} arch {arch!r}; choose one of '
                                 f'{sorted(cls.arch_zoo)} or pass a dict')
            settings = dict(cls.arch_zoo[key])
        elif isinstance(arch, dict):
            settings = dict(arch)
            missing = [k for k in cls.required_arch_keys if k not in settings]
            if missing:
                raise ValueError(f'{family} arch dict misses {missing}')
            accepted = set(cls.required_arch_keys) | set(cls.arch_defaults)
            unknown = sorted(set(settings) - accepted)
            if unknown:
                raise ValueError(f'{family} arch dict has unknown keys {unknown}; it takes '
                                 f'{sorted(accepted)}')
        else:
            raise ValueError(f'{family} arch must be a variant name or a dict, got {arch!r}')
        cfg = dict(cls.arch_defaults)
        cfg.update(settings)
        cfg.update({k: v for k, v in overrides.items() if v is not None})
        for key in cls.per_stage_keys:
            cfg[key] = cls._per_stage(key, cfg[key])
        return cls._check_settings(cfg)

    @classmethod
    def _per_stage(cls, key: str, value):
        """``value`` as one entry per stage; None stays None (the family's own default)."""
        n = cls.num_stages
        if value is None:
            return None
        if isinstance(value, (int, float)):  # bool included
            value = [value * 2**i for i in range(n)] if key == 'embed_dims' else [value] * n
        value = tuple(value)
        if len(value) != n:
            raise ValueError(f'{cls.family} {key} needs one value per stage ({n}) or one for '
                             f'all, got {value}')
        return value

    @classmethod
    def _check_settings(cls, cfg: dict) -> dict:
        """Validate the merged settings (the family's own rules); may normalise them."""
        return cfg

    # ------------------------------------------------------------------ parts
    def _make_stem(self, cfg: dict) -> nn.Module:
        """The stride-4 stem: NCHW image -> NCHW stage-1 map."""
        raise NotImplementedError

    def _make_stage(self, index: int, cfg: dict, drop_path_rates: List[float]) -> Stage:
        """Stage ``index`` (0-based) with one drop-path rate per block; a downsampling to stage
        ``index + 1`` except for the last stage."""
        raise NotImplementedError

    def _out_norm_kinds(self, out_norms) -> Tuple[Optional[str], ...]:
        """``out_norms`` as one checked kind per stage."""
        n = self.num_stages
        kinds = self.default_out_norms if out_norms is None else out_norms
        kinds = (kinds, ) * n if kinds is None or isinstance(kinds, str) else tuple(kinds)
        if len(kinds) != n or any(k not in OUT_NORM_KINDS for k in kinds):
            raise ValueError(f'out_norms takes one of {OUT_NORM_KINDS} per stage ({n}) or one '
                             f'for all, got {out_norms!r}')
        if 'classifier' in kinds[:-1]:
            raise ValueError("out_norms: only the last stage can have the classifier's norm "
                             f"('classifier'), got {out_norms!r}")
        return kinds

    def _make_out_norm(self, index: int, kind: Optional[str], cfg: dict) -> nn.Module:
        """Output norm of stage ``index`` of the given kind (see ``out_norms``)."""
        width = self.feature_info[index]['num_chs']
        if kind is None:
            return nn.Identity()
        if kind == 'LN':
            return LayerNorm2d(width, eps=self.layer_norm_eps)
        if kind == 'BN':
            return nn.BatchNorm2d(width)
        return self._make_classifier_norm(width, cfg)

    def _make_classifier_norm(self, width: int, cfg: dict) -> nn.Module:
        """The released classifier's final norm (families override; BatchNorm here)."""
        return nn.BatchNorm2d(width)

    def classifier_norm_is_fresh(self) -> bool:
        """Whether the last stage's output norm is not the classifier's, so that loading an
        ImageNet classifier must leave it as initialised (as the authors' dense models do)."""
        last = self.num_stages - 1
        return last in self.out_indices and self.out_norms[last] != 'classifier'

    @classmethod
    def missing_checkpoint_message(cls, checkpoint: str, arch: Optional[str] = None) -> str:
        """What to do when the pretrained ``checkpoint`` of an ``init_cfg`` does not exist:
        the authors' release of ``arch`` and the converter command that writes the file."""
        licence = FAMILY_LICENCES[cls.family.lower()]
        terms = licence.name + ('' if licence.commercial_use else ', non-commercial use only')
        release = cls.released_checkpoints.get(str(arch).lower())
        if release is not None:
            source, where = release
            get = (f"the authors' ImageNet weights of {cls.family} arch {arch!r} ({where}; "
                   f'{terms})')
        else:
            source = 'OFFICIAL_CHECKPOINT'
            get = f"the authors' ImageNet weights of this {cls.family} variant ({terms})"
        return (f'pretrained checkpoint not found: {checkpoint}. Download {get}, then convert '
                f'them: python -m mmvitplug.converters {cls.family.lower()} {source} '
                f'{checkpoint} (or train from scratch: --cfg-options '
                'model.backbone.init_cfg=None)')

    # ------------------------------------------------------------------ forward
    def _check_input(self, x: torch.Tensor) -> None:
        if torch.jit.is_tracing():
            return  # sizes are graph values there: a Python check would only freeze them
        expected = f'(N, {self.in_channels}, H, W)'
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{self.family} expects {expected} input, got shape '
                             f'{tuple(x.shape)}')
        if not x.is_floating_point():
            raise ValueError(f'{self.family} expects a floating-point {expected} input, got '
                             f'dtype {x.dtype}')
        # Against the first parameter (the stem's, which the input meets first): a mismatch
        # fails inside the first op unless autocast casts both (float32 and the half types;
        # it never casts float64).
        weight = next(self.parameters(), None)
        casts = (torch.float32, torch.bfloat16, torch.float16)
        if weight is not None and x.dtype != weight.dtype and not (
                torch.is_autocast_enabled(x.device.type) and x.dtype in casts
                and weight.dtype in casts):
            raise ValueError(f"{self.family} expects input of the model's dtype {weight.dtype}, "
                             f'got dtype {x.dtype}: cast one to the other, or run a float32 '
                             'model under torch.autocast (float32, bfloat16 or float16 input)')
        if min(x.shape[2:]) < self.min_size:
            raise ValueError(f'{self.family} needs H, W >= {self.min_size} (four stages down to '
                             f'stride 32), got {tuple(x.shape[2:])}')
        if x.shape[0] == 0:
            raise ValueError(f'{self.family} got an empty batch: input of shape '
                             f'{tuple(x.shape)} (N = 0)')

    def _checkpointed(self, module: nn.Module, *args):
        """``module(*args)``, through gradient checkpointing when ``with_cp`` and training."""
        if self.with_cp and torch.is_grad_enabled() and any(
                isinstance(a, torch.Tensor) and a.requires_grad for a in args):
            return checkpoint(module, *args, use_reentrant=False)
        return module(*args)

    def _stages(self, x: torch.Tensor, num_stages: int) -> Iterator[Tuple[int, torch.Tensor]]:
        """Yield ``(index, NCHW stage feature)`` for the first ``num_stages`` stages; the
        downsampling after a stage runs only where a later stage is needed."""
        x = self.patch_embed(x.contiguous(memory_format=torch.channels_last))
        for i, stage in enumerate(self.stages[:num_stages]):
            x = stage.run_blocks(x, self._checkpointed)
            yield i, x
            if i + 1 < num_stages:
                x = stage.downsample(x)

    def forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The raw stage features (NCHW, one per stage), before downsampling and output
        norms."""
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
        """The authors' initialisation for training from scratch
        (:meth:`init_scratch_weights`), then the ``init_cfg``: other initialisers through
        mmengine, a ``Pretrained`` checkpoint through :func:`~.pretrained.load_pretrained`
        (checked to fit: a wrong file raises instead of leaving the backbone random; tensors
        the file lacks keep the scratch initialisation)."""
        checkpoint = missing_pretrained_checkpoint(self.init_cfg)
        if checkpoint is not None:
            # mmengine would fail deep inside its loader (or, with a prefix, load nothing).
            raise FileNotFoundError(self.missing_checkpoint_message(checkpoint,
                                                                    self.arch_name))
        self.init_scratch_weights()
        cfgs = [dict(c) for c in init_cfg_list(self.init_cfg)]
        others = [c for c in cfgs if c.get('type') != 'Pretrained']
        if others:
            initialize(self, others)
        for cfg in cfgs:
            if cfg.get('type') == 'Pretrained':
                load_pretrained(self, cfg)
        self._is_init = True

    def init_scratch_weights(self) -> None:
        """Truncated normal (std 0.02) linear weights with zero biases, unit/zero norms,
        PyTorch's default for convolutions (the families' shared scheme)."""
        init_transformer_weights(self)

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


def init_cfg_list(init_cfg: Optional[Union[dict, List[dict]]]) -> List[dict]:
    """An mmengine ``init_cfg`` (None, one dict or a list of them) as a list of its entries."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return [c for c in cfgs if c]


def missing_pretrained_checkpoint(
        init_cfg: Optional[Union[dict, List[dict]]]) -> Optional[str]:
    """The local file a ``Pretrained`` ``init_cfg`` loads when it does not exist (None when it
    exists, for URLs and for other inits)."""
    for cfg in init_cfg_list(init_cfg):
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            checkpoint = cfg.get('checkpoint')
            if isinstance(checkpoint, str) and '://' not in checkpoint \
                    and not osp.isfile(checkpoint):
                return checkpoint
    return None
