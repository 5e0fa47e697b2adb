"""The authors' implementations as benchmark peers, run from local clones of their public
repositories (fetched by the user, never part of mmvitplug):

    git clone https://github.com/NVlabs/FasterViT    DIR/FasterViT
    git clone https://github.com/rayleizhu/BiFormer   DIR/BiFormer
    git clone https://github.com/ziplab/LITv2        DIR/LITv2
    pip install --target SCRATCH --no-deps timm einops fairscale   # their extra imports
    PYTHONPATH=SCRATCH .venv/bin/python benchmarks/report.py --authors DIR

Each peer is built with the authors' options of our variant
(:meth:`FamilyConverter.official_config` of the arch zoo entry) for the measured size, and
random-initialised (seed 0); ours is the mmpretrain ``ImageClassifier`` our converter builds for
the same options, holding the peer's weights. :meth:`Pair.max_difference` compares the two on a
seeded input before anything is timed (the report shows it):

- FasterViT-0: ``fastervit/models/faster_vit.py`` (fixed resolution) at 224x224, its released
  size; elsewhere ``faster_vit_any_res.py`` built for the size (it must be rebuilt per size).
  That model is not the same function where a stage map is padded (its windows attend to the
  zero padding unmasked) or the carrier grid is not square (it drops the carriers' position
  MLP, which ours keeps and pays for);
- BiFormer-T: ``models/biformer.py`` with the region count for the size (7 / 8 / 16 per side)
  and ``auto_pad`` where a routed map is not a whole number of regions;
- LITv2-S: ``classification/models/litv2.py`` at 224x224. It reshapes maps as squares, so at
  dense sizes the peer is ``detection/mmdet/models/backbones/litv2.py`` (four stage outputs)
  holding the classifier's weights, against our classifier's trunk. Their CUDA deformable
  convolution (``mm_modules/DCN``, a compiled extension) is replaced for the measurement by
  :func:`torchvision.ops.deform_conv2d`, the operator our LITv2 uses.
"""
import contextlib
import sys
import types
from pathlib import Path
from typing import Callable, NamedTuple, Tuple

import torch

from common import biformer_n_win

# Above this, the two are not the same function (round-off of float32 is ~1e-6 here).
SAME_FUNCTION_ATOL = 1e-3
# our named backbone -> (converter family, our class name, arch zoo key, repository folder)
VARIANTS = {
    'FasterViT-0': ('fastervit', 'FasterViT', '0', 'FasterViT'),
    'BiFormer-T': ('biformer', 'BiFormer', 'tiny', 'BiFormer'),
    'LITv2-S': ('litv2', 'LITv2', 's', 'LITv2'),
}


@contextlib.contextmanager
def _top_level_packages(path: Path, names: Tuple[str, ...], last: bool = False):
    """Import from ``path`` with its top-level packages ``names`` (BiFormer and LITv2 both call
    theirs ``models``), then forget them so that the next repository gets its own. ``last``:
    behind the installed packages (LITv2's detection folder holds an ``mmdet`` of its own)."""
    if last:
        sys.path.append(str(path))
    else:
        sys.path.insert(0, str(path))
    try:
        yield
    finally:
        sys.path.remove(str(path))
        for key in [k for k in sys.modules if k.split('.')[0] in names]:
            del sys.modules[key]


class _TorchvisionDeformConv:
    """Stands in for LITv2's compiled ``DeformConv2dFunction`` (same call signature)."""

    @staticmethod
    def apply(input, offset, weight, bias, stride, padding, dilation, groups=1,
              deformable_groups=1, im2col_step=None):
        from torchvision.ops import deform_conv2d
        return deform_conv2d(input, offset, weight, bias, stride=stride, padding=padding,
                             dilation=dilation)


class _NoModulatedDeformConv:
    """LITv2 imports the modulated operator but never calls it."""

    @staticmethod
    def apply(*args):
        raise NotImplementedError('modulated deformable convolution is not stood in for')


def _stub_litv2_dcn() -> None:
    for name in ('mm_modules.DCN.functions', 'mm_modules.DCN.functions.deform_conv2d_func',
                 'mm_modules.DCN.functions.modulated_deform_conv2d_func'):
        module = types.ModuleType(name)
        module.DeformConv2dFunction = _TorchvisionDeformConv
        module.ModulatedDeformConv2dFunction = _NoModulatedDeformConv
        sys.modules[name] = module


class AuthorsModels:
    """The authors' model classes, imported from the clones under ``root``.

    Raises:
        FileNotFoundError: a repository folder is missing (the message says which).
        ImportError: an extra dependency of theirs is not importable (the message names it).
    """

    def __init__(self, root: str):
        root = Path(root)
        for _, _, _, folder in VARIANTS.values():
            if not (root / folder).is_dir():
                raise FileNotFoundError(f'{root / folder} not found: clone the authors\' '
                                        f'repositories into {root} (see benchmarks/authors.py)')
        try:
            with _top_level_packages(root / 'FasterViT', ('fastervit', )):
                from fastervit.models import faster_vit, faster_vit_any_res
            with _top_level_packages(root / 'BiFormer', ('models', 'ops')):
                from models import biformer
            with _top_level_packages(root / 'LITv2' / 'classification', ('models', 'mm_modules')):
                _stub_litv2_dcn()
                from models import litv2
            with _top_level_packages(root / 'LITv2' / 'detection', ('mm_modules', ), last=True):
                _stub_litv2_dcn()
                litv2_det = _load_unregistered(
                    root / 'LITv2' / 'detection' / 'mmdet' / 'models' / 'backbones' / 'litv2.py')
        except ImportError as e:
            raise ImportError(f'{e}: the authors\' code needs timm, einops and fairscale '
                              '(pip install --target SCRATCH --no-deps timm einops fairscale; '
                              'PYTHONPATH=SCRATCH)') from e
        self.classes = dict(fastervit=faster_vit.FasterViT,
                            fastervit_any_res=faster_vit_any_res.FasterViT,
                            biformer=biformer.BiFormer, litv2=litv2.LITv2,
                            litv2_backbone=litv2_det.LITv2)

    def config(self, name: str, h: int, w: int) -> dict:
        """The authors' classifier options of our variant ``name`` at an h x w input."""
        from mmvitplug import models
        from mmvitplug.converters import get_converter
        family, cls, arch, _ = VARIANTS[name]
        settings = getattr(models, cls).arch_settings_of(arch)
        config = get_converter(family).official_config(settings)
        if family == 'fastervit':
            config['resolution'] = 224 if (h, w) == (224, 224) else [h, w]
        elif family == 'biformer':
            n_win = biformer_n_win(h, w)
            # auto_pad where a routed stage's map (strides 4-16) is not a whole number of
            # regions, as their detection and segmentation backbones do
            config.update(n_win=n_win, auto_pad=any(-(-size // stride) % n_win
                                                    for size in (h, w) for stride in (4, 8, 16)))
        return config

    def pair(self, name: str, h: int, w: int) -> 'Pair':
        """Ours and the authors' ``name`` for an h x w input, with the same weights."""
        family = VARIANTS[name][0]
        config = self.config(name, h, w)
        dense = (h, w) != (224, 224)
        if family == 'fastervit':
            classifier = self.classes['fastervit_any_res' if dense else 'fastervit']
        else:
            classifier = self.classes[family]
        torch.manual_seed(0)
        theirs = _perturb_offsets(classifier(**config).eval())
        ours, not_in_theirs = ours_like(name, config, theirs)
        if family == 'litv2' and dense:
            # Their classifier reshapes maps as squares: at dense sizes the peer is their
            # detection backbone, holding the classifier's weights (its last norm as norm3)
            backbone = self.classes['litv2_backbone'](**{
                k: config[k] for k in ('embed_dim', 'depths', 'num_heads', 'mlp_ratio',
                                       'qkv_bias', 'alpha', 'local_ws')})
            backbone.eval()  # (its train() returns None)
            state = {k: v for k, v in theirs.state_dict().items() if not k.startswith('head.')}
            state.update({'norm3.' + k[len('norm.'):]: state.pop(k)
                          for k in list(state) if k.startswith('norm.')})
            unloaded = backbone.load_state_dict(state, strict=False).missing_keys
            if any(not k.startswith(('norm1.', 'norm2.')) for k in unloaded):
                raise RuntimeError(f'LITv2 detection backbone: no weights for {unloaded[:4]}')
            return Pair(lambda x: ours.backbone(x), lambda x: backbone(x), 'backbone', config,
                        not_in_theirs)
        return Pair(lambda x: ours(x, mode='tensor'), theirs, 'classifier', config,
                    not_in_theirs)


class Pair(NamedTuple):
    """Ours and the authors' model as two calls on the same input, what they return
    (``'classifier'``: logits; ``'backbone'``: stage maps, compared at the last one), the
    authors' options they were built with, and how many of our weights theirs lack."""
    ours: Callable
    theirs: Callable
    kind: str
    config: dict
    weights_not_in_authors: int

    def max_difference(self, x: torch.Tensor) -> float:
        with torch.no_grad():
            a, b = self.ours(x), self.theirs(x)
        if self.kind == 'backbone':
            a, b = a[-1], b[-1]
        return (a - b).abs().max().item()


def _load_unregistered(path: Path):
    """Import the file at ``path`` with its ``@MODELS.register_module()`` made a no-op (LITv2's
    detection backbone registers the name our LITv2 has in mmdet's registry)."""
    import importlib.util
    registry = types.ModuleType('mmdet.registry')
    registry.MODELS = types.SimpleNamespace(register_module=lambda *a, **k: (lambda cls: cls))
    saved = sys.modules.get('mmdet.registry')
    sys.modules['mmdet.registry'] = registry
    try:
        spec = importlib.util.spec_from_file_location('litv2_authors_detection', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules['mmdet.registry']
        else:
            sys.modules['mmdet.registry'] = saved
    return module


def _perturb_offsets(model: torch.nn.Module) -> torch.nn.Module:
    """LITv2's deformable offsets start at zero: make the deformation visible to the check."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(getattr(module, 'conv_offset', None), torch.nn.Conv2d):
                module.conv_offset.weight.normal_(0, 0.02)
                module.conv_offset.bias.uniform_(-0.5, 0.5)
    return model


def ours_like(name: str, config: dict, theirs: torch.nn.Module) -> Tuple[torch.nn.Module, int]:
    """Our mmpretrain classifier for the authors' ``config``, holding ``theirs``' weights, and
    the number of our weights theirs has no counterpart for."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mmvitplug.models  # noqa: F401
    from mmvitplug.converters import official_classifier_cfg, official_to_mmpretrain
    family = VARIANTS[name][0]
    init_default_scope('mmpretrain')
    ours = MODELS.build(official_classifier_cfg(family, config)).eval()
    state = official_to_mmpretrain(family, theirs.state_dict())
    missing = ours.load_state_dict(state, strict=False).missing_keys
    # FasterViT's any-resolution model leaves out the carriers' absolute position MLP where
    # the carrier grid is not square (a different function: ours keeps it, and pays for it).
    if any('pos_embed' not in k for k in missing):
        raise RuntimeError(f'{name}: the authors\' model has no weights for {missing[:4]}')
    return ours, len(missing)


def measure(authors: AuthorsModels, shapes, repeats: int, names=tuple(VARIANTS)) -> list:
    """Ours against the authors' at each (batch, height, width): eval forward (no_grad,
    float32) of both in one interleaved round-robin, after comparing their outputs."""
    from mmvitplug.utils.benchmarking import interleaved_medians
    rows = []
    for b, h, w in shapes:
        print(f'ours vs the authors\' at {b}x3x{h}x{w} ...', flush=True)
        pairs = {n: authors.pair(n, h, w) for n in names}
        check = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
        x = torch.randn(b, 3, h, w)
        runners = {}
        for name, pair in pairs.items():
            runners[name] = lambda f=pair.ours: f(x)
            runners[name + ' (authors)'] = lambda f=pair.theirs: f(x)
        medians = interleaved_medians(runners, repeats)
        for name, pair in pairs.items():
            ours_s, theirs_s = medians[name], medians[name + ' (authors)']
            rows.append(dict(
                model=name, batch=b, height=h, width=w, ours_ms=ours_s * 1e3,
                authors_ms=theirs_s * 1e3, speedup=theirs_s / ours_s, compared=pair.kind,
                max_difference=pair.max_difference(check),
                weights_not_in_authors=pair.weights_not_in_authors,
                authors_size_options={k: pair.config[k] for k in ('resolution', 'n_win',
                                                                   'auto_pad')
                                      if k in pair.config}))
        del pairs, runners
    return rows


def table(rows: list) -> list:
    """Markdown lines of :func:`measure`'s rows."""
    lines = ['| input (BxHxW) | model | ours (ms) | authors (ms) | ours vs authors | '
             'max output difference | authors\' model |', '|---|---|---|---|---|---|---|']
    for r in rows:
        peer = {'fastervit': 'fixed-resolution classifier' if r['height'] * r['width'] == 224**2
                else 'any-resolution classifier', 'biformer': 'classifier',
                'litv2': 'classifier' if r['compared'] == 'classifier'
                else 'detection backbone'}[VARIANTS[r['model']][0]]
        peer += ''.join(f', {k}={v}' for k, v in r['authors_size_options'].items()
                        if k != 'resolution')
        compared = 'logits' if r['compared'] == 'classifier' else 'stage 4'
        diff = f'{r["max_difference"]:.1e} ({compared})'
        if r['weights_not_in_authors'] or r['max_difference'] > SAME_FUNCTION_ATOL:
            diff = 'differs: ' + diff
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["model"]} | '
                     f'{r["ours_ms"]:.0f} | {r["authors_ms"]:.0f} | {r["speedup"]:.2f}x | '
                     f'{diff} | {peer} |')
    return lines
