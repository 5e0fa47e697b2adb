"""The converter interface (:class:`FamilyConverter`) and the pieces its tables are made of.

A family's converter is two tables and two small functions:

* ``key_renames``: ``(official pattern, mmvitplug replacement)`` regexes, applied in order to
  every official backbone key (``dropped_keys``: official keys with no counterpart);
* ``options``: one :class:`Option` per keyword of the authors' constructor, saying where it goes
  in the mmvitplug backbone (an arch setting, ``in_channels``, the head) or that only its
  released value is implemented, or that it does not change the computed function;
* ``layout(settings)`` / ``layout_of(state_dict)``: what a state_dict's keys and shapes reveal
  of the architecture, from arch settings and from a released checkpoint, so that
  :meth:`FamilyConverter.infer_config` recognises the released variants in the arch zoo.
"""
import re
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import torch

Renames = Sequence[Tuple[str, object]]

REQUIRED = object()  # default of an official option without one
ARCH = 'arch'  # an arch setting of the mmvitplug backbone
IN_CHANNELS = 'in_channels'  # the backbone's input channels
NUM_CLASSES = 'num_classes'  # the classification head's classes
RELEASED_ONLY = 'released-only'  # only one value is implemented (refused otherwise)
NO_EFFECT = 'no-effect'  # does not change the model's function (dropped)


def _same(value):
    return value


class Option(NamedTuple):
    """One keyword of the authors' constructor.

    Attributes:
        official: its name in the authors' constructor.
        default: the authors' default (used where an official config omits it), or
            :data:`REQUIRED`.
        kind: where it goes: :data:`ARCH` (the arch setting ``ours``), :data:`IN_CHANNELS`,
            :data:`NUM_CLASSES`, :data:`RELEASED_ONLY` (only ``implemented`` is supported) or
            :data:`NO_EFFECT` (dropped: resolution-specific buffers recomputed from the
            input, training-only memory switches, options inactive in this configuration).
        ours: the arch setting (kind :data:`ARCH`).
        to_ours: official value -> mmvitplug value.
        to_official: mmvitplug value -> official value (for :meth:`FamilyConverter.
            official_config`).
        implemented: the one supported value (kind :data:`RELEASED_ONLY`).
    """
    official: str
    default: Any
    kind: str = ARCH
    ours: Optional[str] = None
    to_ours: Callable = _same
    to_official: Callable = _same
    implemented: Any = None


def arch_option(official: str, default: Any, ours: Optional[str] = None,
                to_ours: Callable = _same, to_official: Callable = _same) -> Option:
    """An official option that maps to the arch setting ``ours`` (default: the same name)."""
    return Option(official, default, ARCH, ours or official, to_ours, to_official)


def released_only(official: str, default: Any, implemented: Any = None) -> Option:
    """An official option of which only ``implemented`` (default: the authors' default) is
    supported."""
    return Option(official, default, RELEASED_ONLY,
                  implemented=default if implemented is None else implemented)


def no_effect(official: str, default: Any) -> Option:
    return Option(official, default, NO_EFFECT)


def as_list(value):
    return None if value is None else list(value)


def uniform(name: str) -> Callable:
    """to_official of a per-stage setting that the authors' constructor takes as one value."""
    def convert(values):
        if len(set(values)) != 1:
            raise ValueError(f"the authors' constructor takes one {name} for all stages, got "
                             f'{values}')
        return values[0]
    return convert


def doubling(values: Sequence[int]) -> int:
    """to_official of per-stage widths that the authors' constructor takes as the first one."""
    if any(v != values[0] * 2**i for i, v in enumerate(values)):
        raise ValueError(f"the authors' constructor doubles the width per stage, got {values}")
    return values[0]


def rename(key: str, renames: Renames) -> str:
    """``key`` with the ``(pattern, replacement)`` regex substitutions applied in order."""
    for pattern, repl in renames:
        key = re.sub(pattern, repl, key)
    return key


def image_classifier(backbone: dict, num_classes: int, in_channels: int) -> dict:
    """mmpretrain ``ImageClassifier`` config: ``backbone``, global average pooling, linear head."""
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=in_channels,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


class FamilyConverter:
    """Official checkpoints and constructor kwargs of one family -> mmvitplug.

    Subclasses set :attr:`family`, :attr:`backbone_type`, :attr:`key_renames`,
    :attr:`dropped_keys` and :attr:`options`, and implement :meth:`layout` and
    :meth:`layout_of`; they may extend :meth:`official_to_mmpretrain` for checks of their own.
    """

    #: the name in ``official_to_mmpretrain(family, ...)``
    family: str = ''
    #: the registered backbone class name
    backbone_type: str = ''
    key_renames: Renames = ()
    #: regexes of official keys with no counterpart (recomputed geometry, duplicates)
    dropped_keys: Sequence[str] = ()
    options: Sequence[Option] = ()
    #: official keys every model of the family has, classifier or dense backbone: they tell
    #: the family of a checkpoint
    signature_keys: Tuple[str, ...] = ()
    #: the authors' dense backbone (their detectors' and segmentors'), for messages
    dense_class: str = ''
    #: renames of the dense backbone's own keys (its output norms), applied before
    #: ``key_renames``
    dense_key_renames: Renames = ()
    #: keywords of the dense backbone's constructor beyond the classifier's
    dense_options: Sequence[Option] = ()
    #: arch settings the dense backbone implies (its behaviour, not a keyword)
    dense_settings: Dict[str, Any] = {}

    # ------------------------------------------------------------------ weights
    @property
    def backbone_class(self) -> type:
        from mmvitplug.registry import MODELS
        return MODELS.get(self.backbone_type)

    def convert_backbone_key(self, key: str, dense: bool = False) -> str:
        """Official key -> key of the mmvitplug backbone (without ``backbone.``); ``dense``:
        a key of the authors' dense backbone."""
        if dense:
            key = rename(key, self.dense_key_renames)
        return rename(key, self.key_renames)

    def is_official(self, keys) -> bool:
        """Whether official backbone ``keys`` (no ``backbone.`` prefix) are this family's."""
        keys = set(keys)
        return all(k in keys for k in self.signature_keys)

    def official_to_mmpretrain(self,
                               state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Official classifier weights -> mmpretrain ``ImageClassifier`` keys: ``head.*``
        becomes ``head.fc.*``, every other kept key ``backbone.<converted key>``."""
        converted = {}
        for key, value in state_dict.items():
            if any(re.search(p, key) for p in self.dropped_keys):
                continue
            if key.startswith('head.'):
                converted['head.fc.' + key[len('head.'):]] = value
            else:
                converted['backbone.' + self.convert_backbone_key(key)] = value
        return converted

    # ------------------------------------------------------------------ configs
    def backbone_cfg(self, config: dict, dense: bool = False) -> Tuple[dict, int]:
        """The mmvitplug backbone config equal to the official ``Model(**config)`` (classifier
        output only), and the number of classes; ``dense``: ``config`` is the kwargs of the
        authors' dense backbone (:attr:`dense_class`).

        Raises:
            ValueError: an option the authors' constructor does not have, or one set to a
                value whose semantics mmvitplug does not implement (the message names it).
        """
        options = tuple(self.options) + (tuple(self.dense_options) if dense else ())
        known = {o.official for o in options}
        unknown = sorted(set(config) - known)
        if unknown:
            owner = self.dense_class if dense else self.backbone_type
            raise ValueError(f'{unknown} are not options of the official {owner} '
                             f'constructor (known: {sorted(known)})')
        arch, backbone, num_classes = {}, dict(type=self.backbone_type), 1000
        for option in options:
            value = config.get(option.official, option.default)
            if value is REQUIRED:
                raise ValueError(f'the official {self.backbone_type} config misses '
                                 f'{option.official!r}')
            if option.kind == RELEASED_ONLY and value != option.implemented:
                raise ValueError(f'mmvitplug {self.backbone_type} implements '
                                 f'{option.official}={option.implemented!r} (as every released '
                                 f'model), got {value!r}')
            if option.kind == ARCH:
                arch[option.ours] = option.to_ours(value)
            elif option.kind == IN_CHANNELS:
                backbone['in_channels'] = value
            elif option.kind == NUM_CLASSES:
                num_classes = value
        if dense:
            arch.update(self.dense_settings)
        backbone.update(arch=arch, out_indices=(3, ))
        return backbone, num_classes

    def official_classifier_cfg(self, config: dict) -> dict:
        """mmpretrain ``ImageClassifier`` config equal to the official ``Model(**config)``."""
        backbone, num_classes = self.backbone_cfg(config)
        # The head's width: the last stage's (feature_info's source).
        width = self.backbone_class.arch_settings_of(backbone['arch'])['embed_dims'][-1]
        return image_classifier(backbone, num_classes, width)

    def official_config(self, settings: dict, num_classes: int = 1000) -> dict:
        """The authors' constructor kwargs of the model built from mmvitplug arch
        ``settings`` (every :data:`ARCH` option, and the implemented value of every
        :data:`RELEASED_ONLY` option whose default differs)."""
        config = {}
        for option in self.options:
            if option.kind == ARCH:
                config[option.official] = option.to_official(settings[option.ours])
            elif option.kind == RELEASED_ONLY and option.implemented != option.default:
                config[option.official] = option.implemented
            elif option.kind == NUM_CLASSES:
                config[option.official] = num_classes
        return config

    # ------------------------------------------------------------------ released variants
    def layout(self, settings: dict) -> tuple:
        """What a state_dict's key layout reveals of arch ``settings`` (a tuple)."""
        raise NotImplementedError

    def layout_of(self, state_dict: Dict[str, torch.Tensor]) -> tuple:
        """:meth:`layout` as read from an official state_dict; None where it cannot tell."""
        raise NotImplementedError

    def infer_arch(self, state_dict: Dict[str, torch.Tensor]) -> Tuple[str, dict]:
        """The arch zoo key and settings of the released variant whose key layout the
        official backbone ``state_dict`` has.

        Raises:
            ValueError: no variant of the arch zoo has this layout.
        """
        cls = self.backbone_class
        found = self.layout_of(state_dict)
        for name in cls.arch_zoo:
            settings = cls.arch_settings_of(name)
            if all(f is None or f == z for f, z in zip(found, self.layout(settings))):
                return name, settings
        raise ValueError(f'not a released {self.backbone_type} layout ({found}); pass the '
                         'official constructor kwargs explicitly')

    def infer_config(self, state_dict: Dict[str, torch.Tensor]) -> dict:
        """``dict(arch=zoo key, config=official kwargs)`` of the released classifier whose
        key layout ``state_dict`` has.

        Raises:
            ValueError: no variant of the arch zoo has this layout.
        """
        name, settings = self.infer_arch(state_dict)
        num_classes = state_dict['head.weight'].shape[0]
        return dict(arch=name, config=self.official_config(settings, num_classes))
