"""Every config under configs/ (bases excluded) parses, builds its model through its toolbox's
registry and trains one step (loss, backward) on a small synthetic batch; the optimizer the config
names is built too. A new config is picked up automatically."""
import gc
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from conftest import REPO

CONFIGS = sorted(p.relative_to(REPO).as_posix()
                 for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)
FAMILIES = ('fastervit', 'biformer', 'litv2')  # configs/<family>/, backbone type <family>


def _det_batch(num_classes: int, size=(96, 128)):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    inputs, samples = [], []
    for i in range(2):
        h, w = size[0] + 8 * i, size[1]  # two sizes: the preprocessor pads the batch
        inputs.append(torch.randint(0, 255, (3, h, w), dtype=torch.uint8))
        masks = torch.zeros(2, h, w, dtype=torch.uint8)
        masks[0, 10:50, 20:70] = 1
        masks[1, 40:90, 60:120] = 1
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                             scale_factor=(1.0, 1.0), batch_input_shape=(h, w)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[20., 10., 70., 50.], [60., 40., 120., 90.]]),
            labels=torch.tensor([0, num_classes - 1]),
            masks=BitmapMasks(masks.numpy(), h, w))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _seg_batch(num_classes: int, size=(64, 96)):
    from mmseg.structures import SegDataSample
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 255, (3, *size), dtype=torch.uint8))
        label = torch.randint(0, num_classes, (1, *size))
        label[:, :8] = 255  # ignored pixels
        sample = SegDataSample(metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size))
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _cls_batch(num_classes: int, size=(64, 64)):
    from mmpretrain.structures import DataSample
    inputs = [torch.randint(0, 255, (3, *size), dtype=torch.uint8) for _ in range(2)]
    samples = [DataSample().set_gt_label(i % num_classes) for i in range(2)]
    return dict(inputs=inputs, data_samples=samples)


def _num_classes(cfg: Config) -> int:
    model = cfg.model
    if cfg.default_scope == 'mmdet':
        head = model.roi_head.mask_head if 'roi_head' in model else model.bbox_head  # RetinaNet
        return head.num_classes
    if cfg.default_scope == 'mmseg':
        return model.decode_head.num_classes
    return model.head.num_classes


BATCHES = {'mmdet': _det_batch, 'mmseg': _seg_batch, 'mmpretrain': _cls_batch}


def _build(cfg: Config):
    """The model of ``cfg`` as the runner builds it for one process (SyncBN reverted), with a
    few settings shrunk so that one step is cheap on a CPU."""
    import mmvitplug  # noqa: F401
    from mmengine.registry import MODELS
    init_default_scope(cfg.default_scope)
    model = cfg.model
    # Pretrained files are not part of the test data (mmseg's ResNet configs name theirs at the
    # model level).
    model.backbone.pop('init_cfg', None)
    model.pop('pretrained', None)
    if 'data_preprocessor' in cfg:  # the runner hands the top-level preprocessor to the model
        model.setdefault('data_preprocessor', cfg.data_preprocessor)
    if cfg.default_scope == 'mmdet' and 'rpn_proposal' in model.train_cfg:  # fewer RoIs
        model.train_cfg.rpn_proposal.max_per_img = 64
        rcnn = model.train_cfg.rcnn  # one stage (Mask R-CNN) or a cascade
        for stage in rcnn if isinstance(rcnn, list) else [rcnn]:
            stage.sampler.num = 16
    if model.type == 'DINO':  # fewer queries than the small batch's tokens (900 by default)
        model.num_queries = 32
    if cfg.default_scope == 'mmseg':  # no padding up to the 512x512 crop
        model.data_preprocessor.size = None
        model.data_preprocessor.size_divisor = 32
    return revert_sync_batchnorm(MODELS.build(model))


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds_and_trains_one_step(path):
    cfg = Config.fromfile(str(REPO / path))
    assert cfg.default_scope in BATCHES, f'{path}: default_scope {cfg.default_scope!r}'
    assert 'mmvitplug' in cfg.custom_imports['imports']
    family = path.split('/')[1]
    if family in FAMILIES:
        assert cfg.model.backbone.type.lower() == family
        if cfg.default_scope != 'mmpretrain':  # det/seg start from converted ImageNet weights
            init_cfg = cfg.model.backbone.init_cfg
            assert init_cfg.type == 'Pretrained' and init_cfg.prefix == 'backbone.'
            assert init_cfg.checkpoint.startswith(('checkpoints/', 'https://'))

    torch.manual_seed(0)
    model = _build(cfg)
    model.init_weights()
    model.train()
    batch = model.data_preprocessor(BATCHES[cfg.default_scope](_num_classes(cfg)), training=True)
    losses = model(**batch, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss), f'{path}: loss {loss}'
    loss.backward()
    # Every trainable parameter takes part (DistributedDataParallel refuses unused ones unless
    # told to search for them every step).
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, f'{path}: parameters without gradient: {unused[:5]}'
    assert any(p.grad.abs().sum() > 0 for p in model.backbone.parameters() if p.requires_grad)

    # The optimizer wrapper the config names builds over this model (no step: the optimizer
    # states of the billion-parameter variants would not fit a CI machine's memory).
    from mmengine.optim import build_optim_wrapper
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    # Every trainable parameter is optimised (mmengine's default constructor also lists the
    # frozen ones, e.g. a ResNet's frozen stem; they have no gradient and never move).
    optimised = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    assert {id(p) for p in model.parameters() if p.requires_grad} <= optimised
    del model, wrapper, losses, loss, batch
    gc.collect()


# ---------------------------------------------------------------------- output widths
def width_mismatches(cfg: Config) -> list:
    """Messages for every width a config's neck or heads expect of the backbone outputs that
    differs from the backbone's ``feature_info`` (empty for backbones not of mmvitplug)."""
    import mmvitplug  # noqa: F401
    from mmvitplug.registry import MODELS
    from mmvitplug.models.backbones.base import HierarchicalBackbone
    backbone_cfg = dict(cfg.model.backbone)
    backbone_cfg.pop('init_cfg', None)
    cls = MODELS.get(backbone_cfg['type'])
    if cls is None or not issubclass(cls, HierarchicalBackbone):  # e.g. mmdet.ResNet
        return []
    with torch.device('meta'):  # widths only: the large variants hold billions of weights
        backbone = MODELS.build(backbone_cfg)
    widths = [backbone.feature_info[i]['num_chs'] for i in backbone.out_indices]
    model, checks = cfg.model, []
    if cfg.default_scope == 'mmdet' or (cfg.default_scope == 'mmseg' and 'neck' in model):
        checks.append(('neck.in_channels', model.neck.in_channels, widths))  # Semantic FPN too
    elif cfg.default_scope == 'mmseg':
        for name in ('decode_head', 'auxiliary_head'):
            head = model.get(name)
            if head is not None:
                index = head.in_index
                expected = ([widths[i] for i in index] if isinstance(index, (list, tuple))
                            else widths[index])
                checks.append((f'{name}.in_channels', head.in_channels, expected))
    else:
        checks.append(('head.in_channels', model.head.in_channels, widths[-1]))
    return [f'{what} is {list(got) if isinstance(got, (list, tuple)) else got} but the '
            f'backbone ({backbone_cfg["type"]} arch {backbone_cfg.get("arch")!r}, out_indices '
            f'{backbone.out_indices}) outputs {expected} channels (feature_info)'
            for what, got, expected in checks
            if (list(got) if isinstance(got, (list, tuple)) else got) != expected]


@pytest.mark.parametrize('path', CONFIGS)
def test_neck_and_head_widths_match_feature_info(path):
    assert width_mismatches(Config.fromfile(str(REPO / path))) == []


def test_a_wrong_width_is_reported_with_both_numbers():
    cfg = Config.fromfile(str(REPO / 'configs/fastervit/upernet_ade20k.py'))
    cfg.model.decode_head.in_channels = [96, 192, 384, 700]
    cfg.model.auxiliary_head.in_channels = 300
    assert width_mismatches(cfg) == [
        "decode_head.in_channels is [96, 192, 384, 700] but the backbone (FasterViT arch '2', "
        'out_indices (0, 1, 2, 3)) outputs [96, 192, 384, 768] channels (feature_info)',
        "auxiliary_head.in_channels is 300 but the backbone (FasterViT arch '2', out_indices "
        '(0, 1, 2, 3)) outputs 384 channels (feature_info)']


# ---------------------------------------------------------------------- inheritance
def _own_settings(path: Path) -> dict:
    """The assignments of a config file itself, without its bases."""
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), 'exec'), namespace)
    return {k: v for k, v in namespace.items()
            if not k.startswith('_') and not callable(v) and not isinstance(v, type(gc))}


def restated(own, base, where: str = '') -> list:
    """Paths of the leaves of ``own`` equal to the inherited value in ``base``."""
    if isinstance(own, dict) and isinstance(base, dict):
        if own.get('_delete_'):
            return []
        found = []
        for key, value in own.items():
            if key in base:
                found += restated(value, base[key], f'{where}.{key}' if where else key)
        return found
    if isinstance(own, (list, tuple)) and isinstance(base, (list, tuple)):
        return [where] if list(own) == list(base) else []
    return [where] if own == base else []


def _inheriting_configs():
    for path in CONFIGS:
        text = (REPO / path).read_text()
        if '{{' not in text and '_base_' in text:
            yield path


@pytest.mark.parametrize('path', list(_inheriting_configs()))
def test_configs_do_not_restate_inherited_values(path, tmp_path):
    file = REPO / path
    namespace: dict = {}
    exec(compile(file.read_text(), str(file), 'exec'), namespace)
    bases = namespace['_base_']
    bases = [bases] if isinstance(bases, str) else bases
    # What the file inherits: its bases merged as mmengine merges them.
    only_bases = tmp_path / 'bases.py'
    only_bases.write_text('_base_ = %r\n' % [b if '::' in b else str(file.parent / b)
                                             for b in bases])
    inherited = Config.fromfile(str(only_bases)).to_dict()
    found = restated(_own_settings(file), inherited)
    if any('_base_/' in b for b in bases):
        # A recipe's neck/head widths are those of the backbone it replaced (ConvNeXt, Swin):
        # equal widths there are a coincidence, and the config states its own (checked above).
        found = [f for f in found if not f.endswith('in_channels')]
    assert found == []


def test_headline_configs_open_with_what_they_build():
    """The card paths' first line names the variant and the recipe."""
    for family in FAMILIES:
        for name, recipe in (('cascade_mask_rcnn_coco.py', 'Cascade Mask R-CNN'),
                             ('upernet_ade20k.py', 'UPerNet')):
            path = REPO / 'configs' / family / name
            cfg = Config.fromfile(str(path))
            first = path.read_text().splitlines()[0]
            variant = {'fastervit': f"FasterViT-{cfg.model.backbone.arch}",
                       'biformer': f"BiFormer-{cfg.model.backbone.arch[0].upper()}",
                       'litv2': f"LITv2-{cfg.model.backbone.arch.upper()}"}[family]
            assert first.startswith('# ') and recipe in first and variant in first, first


def test_every_family_has_the_headline_configs():
    for family in FAMILIES:
        for name in ('cascade_mask_rcnn_coco.py', 'upernet_ade20k.py'):
            assert f'configs/{family}/{name}' in CONFIGS
    assert any(Path(p).name.endswith('_in1k.py') for p in CONFIGS)


#: The card's headline paths keep their names (configs/<family>/...).
HEADLINES = ('cascade_mask_rcnn_coco.py', 'upernet_ade20k.py')
#: OpenMMLab's config names, per training data: {algorithm}_{backbone}[_{neck}]_{training
#: settings}_{data}. The training settings start with GPUs x images per GPU (`8xb128`), which
#: mmdet leaves out for its default 8xb2 and mmseg (default 4xb4) and mmpretrain always state.
NAME_SCHEMES = {
    'coco': r'(cascade-mask-rcnn|mask-rcnn|retinanet|dino-4scale)_[a-z0-9-]+(_fpn)?_[a-z0-9-]+'
            r'_coco',
    'ade20k': r'(upernet|fpn)_[a-z0-9-]+_\d+xb\d+-\d+k_ade20k-\d+x\d+',
    'in1k': r'[a-z0-9-]+_\d+xb\d+(-[a-z0-9]+)*_in1k',
}


@pytest.mark.parametrize('config', [c for c in CONFIGS if not c.startswith('configs/demo/')])
def test_config_name_follows_the_scheme_and_states_its_batch(config):
    """Variant configs are named as mmdet/mmseg/mmpretrain name theirs, and the GPUs x images
    per GPU of the name (mmdet's 8xb2 where it names none) are the config's batch and the batch
    its learning rate is for."""
    name = Path(config).stem
    if Path(config).name not in HEADLINES:
        data = name.rsplit('_', 1)[-1].split('-')[0]
        assert data in NAME_SCHEMES and re.fullmatch(NAME_SCHEMES[data], name), name
    found = re.search(r'_(\d+)xb(\d+)', name)
    gpus, per_gpu = (int(n) for n in found.groups()) if found else (8, 2)
    cfg = Config.fromfile(str(REPO / config))
    assert cfg.train_dataloader.batch_size == per_gpu, name
    if cfg.get('auto_scale_lr'):  # mmseg's own configs state none
        assert cfg.auto_scale_lr.base_batch_size == gpus * per_gpu, name
