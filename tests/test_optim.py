"""Layer-wise lr decay driven by backbone.get_layer_depth, from mmdet, mmseg and mmpretrain."""
import math

import pytest
import torch
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, init_default_scope

import mmvitplug  # noqa: F401  (registers the constructor)
from mmvitplug.models import BackboneLayerDecayOptimWrapperConstructor, BiFormer, FasterViT, LITv2

TINY = dict(embed_dims=16, in_dim=8, depths=(1, 1, 2, 2), num_heads=(1, 1, 2, 4), mlp_ratios=2.0,
            layer_scale=0.5)


class Detector(torch.nn.Module):
    """A backbone and a head, named as mm models name them."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.head = torch.nn.Conv2d(128, 4, 1)


def build(model, rate=0.8, **paramwise):
    cfg = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
               constructor='BackboneLayerDecayOptimWrapperConstructor',
               paramwise_cfg=dict(layer_decay_rate=rate, **paramwise))
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type=cfg.pop('constructor'), optim_wrapper_cfg=cfg,
             paramwise_cfg=cfg.pop('paramwise_cfg')))
    return constructor(model).optimizer


def _group_of(optimizer, name):
    return next(g for g in optimizer.param_groups if name in g['param_names'])


def test_rates_follow_the_layer_depth_and_weight_decay_spares_what_it_should():
    model = Detector(FasterViT(TINY))
    optimizer = build(model)
    num_layers = sum(TINY['depths']) + 2
    seen = set()
    for group in optimizer.param_groups:
        for name in group['param_names']:
            layer, _ = model.backbone.get_layer_depth(name, prefix='backbone.')
            assert group['lr'] == pytest.approx(1e-3 * 0.8**(num_layers - 1 - layer)), name
            seen.add(name)
    assert seen == {n for n, p in model.named_parameters() if p.requires_grad}
    assert _group_of(optimizer, 'head.weight')['lr'] == pytest.approx(1e-3)
    assert _group_of(optimizer, 'backbone.patch_embed.0.weight')['lr'] == pytest.approx(
        1e-3 * 0.8**(num_layers - 1))
    decayed = {'backbone.stages.2.blocks.0.attn.qkv.weight', 'head.weight',
               'backbone.stages.0.blocks.0.conv1.weight'}
    spared = {'backbone.stages.2.blocks.0.attn.qkv.bias', 'backbone.stages.2.blocks.0.norm1.weight',
              'backbone.stages.2.blocks.0.gamma1',
              'backbone.stages.2.blocks.0.attn.pos_bias.cpb_mlp.0.weight',
              'backbone.stages.2.blocks.0.pos_embed.cpb_mlp.0.weight',
              'backbone.stages.2.carrier_init.pos_embed.weight'}
    names = {n for n, _ in model.named_parameters()}
    assert decayed <= names and spared <= names
    for name in decayed:
        assert _group_of(optimizer, name)['weight_decay'] == 0.05, name
    for name in spared:
        assert _group_of(optimizer, name)['weight_decay'] == 0.0, name


def test_frozen_parameters_are_left_out_and_a_step_runs():
    model = Detector(BiFormer(dict(embed_dims=(16, 32, 64, 128), depths=(1, 1, 1, 1),
                                   head_dim=8), frozen_stages=1))
    optimizer = build(model)
    grouped = {n for g in optimizer.param_groups for n in g['param_names']}
    assert not any(n.startswith(('backbone.patch_embed.', 'backbone.stages.0.')) for n in grouped)
    sum(o.mean() for o in model.backbone(torch.randn(1, 3, 64, 64))).backward()
    optimizer.step()


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_resolves_from_the_toolbox_scopes(scope):
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['OPTIM_WRAPPER_CONSTRUCTORS'])
    assert registry.OPTIM_WRAPPER_CONSTRUCTORS.get(
        'BackboneLayerDecayOptimWrapperConstructor') is BackboneLayerDecayOptimWrapperConstructor


def test_clear_errors():
    with pytest.raises(ValueError, match='layer_decay_rate must be'):
        build(Detector(FasterViT(TINY)), rate=1.5)
    with pytest.raises(ValueError, match='takes layer_decay_rate, no_decay_names and lr_mult'):
        build(Detector(FasterViT(TINY)), custom_keys={})
    with pytest.raises(TypeError, match='get_layer_depth'):
        build(Detector(torch.nn.Conv2d(3, 128, 3)))


def test_lr_mult_scales_named_parameters_on_top_of_the_layer_decay():
    """LITv2's deformable-merging offsets train at 0.01x, as in the authors' recipe."""
    model = Detector(LITv2(dict(embed_dims=16, depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 4))))
    plain = build(model, rate=0.9)
    scaled = build(model, rate=0.9, lr_mult=dict(conv_offset=0.01))
    names = [n for n, _ in model.named_parameters() if 'conv_offset' in n]
    assert names
    for name in names:
        assert _group_of(scaled, name)['lr'] == pytest.approx(_group_of(plain, name)['lr'] * 0.01)
    other = 'backbone.stages.2.blocks.0.attn.lofi_q.weight'
    assert _group_of(scaled, other)['lr'] == pytest.approx(_group_of(plain, other)['lr'])


def _lrs(schedulers, optimizer, steps):
    rates = []
    for _ in range(steps):
        rates.append([g['lr'] for g in optimizer.param_groups])
        for scheduler in schedulers:
            scheduler.step()
    return torch.tensor(rates, dtype=torch.float64)


@pytest.mark.filterwarnings('ignore:Detected call of `scheduler.step()`')
def test_warmup_cosine_is_mmengines_linear_then_cosine():
    """WarmupCosineLR gives the rates of mmengine's LinearLR + CosineAnnealingLR chain, per
    iteration, for every parameter group (layer-wise decay rates), through the cool-down."""
    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR

    from mmvitplug.models import WarmupCosineLR

    def optimizer():
        params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(2)]
        return torch.optim.SGD([dict(params=[params[0]], lr=1.0),
                                dict(params=[params[1]], lr=0.25)], lr=1.0)

    epoch_length, warmup, end, steps = 3, 2, 6, 9 * 3
    chained = optimizer()
    expected = _lrs([
        LinearLR.build_iter_from_epoch(chained, start_factor=0.01, end=warmup,
                                       epoch_length=epoch_length),
        CosineAnnealingLR.build_iter_from_epoch(chained, eta_min=1e-3, begin=warmup, end=end,
                                                epoch_length=epoch_length)
    ], chained, steps)
    one = optimizer()
    rates = _lrs([WarmupCosineLR.build_iter_from_epoch(
        one, warmup=warmup, warmup_start_factor=0.01, eta_min=1e-3, end=end,
        epoch_length=epoch_length)], one, steps)
    torch.testing.assert_close(rates, expected, rtol=1e-12, atol=0)
    assert rates[0, 0] == 0.01 and rates[warmup * epoch_length, 0] == 1.0
    with pytest.raises(ValueError, match='finite end'):
        WarmupCosineLR(optimizer(), warmup=5)


def test_warmup_cosine_from_begin_is_timms_shape():
    """cosine_from_begin: the authors' timm schedulers, whose cosine spans the whole schedule
    and whose warm-up ramps towards the full rate at step ``warmup``, then jumps onto the
    cosine there (here: half-way down a 4-step cosine at step 2)."""
    from mmvitplug.models import WarmupCosineLR
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = WarmupCosineLR(optimizer, warmup=2, warmup_start_factor=0.2, eta_min=0.1,
                               end=4, by_epoch=False, cosine_from_begin=True)
    rates = _lrs([scheduler], optimizer, 6)[:, 0].tolist()
    cos = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)]
    expected = [0.2, 0.6, cos[2], cos[3], cos[3], cos[3]]  # the last rate stays after `end`
    assert rates == pytest.approx(expected, abs=1e-12)


def test_imagenet_configs_change_only_their_own_schedule_numbers():
    from mmengine.config import Config

    from conftest import REPO
    recipe = dict(type='WarmupCosineLR', warmup=20, warmup_start_factor=1e-3, eta_min=1e-5,
                  end=300, cosine_from_begin=True, by_epoch=True, convert_to_iter_based=True)
    for config, changes in (('litv2/litv2-s_8xb128_in1k.py', {}),
                            ('fastervit/fastervit-2_32xb128_in1k.py',
                             dict(warmup_start_factor=2e-4, eta_min=5e-6, end=310)),
                            ('fastervit/fastervit-3_32xb128_in1k.py',
                             dict(warmup=35, warmup_start_factor=2e-4, eta_min=5e-6, end=310)),
                            ('biformer/biformer-base_8xb128_in1k.py',
                             dict(warmup=5, convert_to_iter_based=False))):
        cfg = Config.fromfile(str(REPO / 'configs' / config))
        assert cfg.param_scheduler.to_dict() == dict(recipe, **changes), config
