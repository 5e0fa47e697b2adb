"""The plug-in attention modules (HAT, BRA, HiLo as 2-D layers): mmcv's plugin builder and
ResNet's ``plugins=`` build them, they start as the identity, train, take any input, run in
reduced precision and export, and they are the backbones' attention (same code, same weights,
same numbers)."""
import warnings

import pytest
import torch
import torch.nn as nn

import mmvitplug  # noqa: F401  (registers the plug-ins)
from mmvitplug.models import (BiFormer, BiLevelRoutingAttention2d, FasterViT, HATAttention2d,
                              HiLoAttention2d, LITv2)
from mmvitplug.utils.deployment import check_onnx, export_onnx, relative_difference

PLUGINS = {'HATAttention2d': HATAttention2d, 'BiLevelRoutingAttention2d': BiLevelRoutingAttention2d,
           'HiLoAttention2d': HiLoAttention2d}
NAMES = sorted(PLUGINS)


def _plugin(name: str, channels: int = 64, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    return PLUGINS[name](channels, **kwargs).eval()


def _with_unit_scale(module: nn.Module) -> nn.Module:
    """The plug-in with its residual scale at 1 (as after some training)."""
    with torch.no_grad():
        module.gamma1.fill_(1.0)
    return module


@pytest.mark.parametrize('name', NAMES)
def test_built_by_mmcv_plugin_builder(name):
    from mmcv.cnn import build_plugin_layer
    layer_name, layer = build_plugin_layer(dict(type=name, num_heads=2), in_channels=96,
                                           postfix='_1')
    assert isinstance(layer, PLUGINS[name]) and layer.in_channels == 96
    assert layer_name == f'{PLUGINS[name]._abbr_}_1'
    attn = layer.attn
    heads = getattr(attn, 'num_heads', None) or attn.lofi_heads + attn.hifi_heads
    assert heads == 2


@pytest.mark.parametrize('name', NAMES)
def test_identity_at_initialisation_and_attention_only_option(name):
    x = torch.randn(2, 64, 37, 29)
    module = _plugin(name)
    assert torch.count_nonzero(module.gamma1) == 0
    with torch.no_grad():
        assert torch.equal(module(x), x)
        branch = _plugin(name, residual=False)
        assert branch.gamma1 is None  # no parameter that would never train
        out = branch(x)
    assert out.shape == x.shape and out.abs().max() > 0
    assert torch.allclose(_with_unit_scale(module)(x), x + out, atol=1e-5)


@pytest.mark.parametrize('name', NAMES)
def test_gradients_reach_every_parameter(name):
    module = _plugin(name).train()
    x = torch.randn(2, 64, 30, 41, requires_grad=True)
    module(x).square().sum().backward()
    # At initialisation only the scale can move (the branch is multiplied by zero) ...
    assert module.gamma1.grad.abs().sum() > 0
    assert torch.equal(x.grad, 2 * x.detach())
    # ... and once it has moved, every parameter learns.
    module.zero_grad()
    with torch.no_grad():
        module.gamma1.fill_(0.1)
    module(x).square().sum().backward()
    dead = [n for n, p in module.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == []


@pytest.mark.parametrize('name', NAMES)
def test_any_size_and_batch(name):
    module = _with_unit_scale(_plugin(name, 32))
    with torch.no_grad():
        for shape in [(1, 32, 1, 1), (3, 32, 5, 7), (1, 32, 2, 113), (2, 32, 67, 3),
                      (1, 32, 64, 64)]:
            x = torch.randn(shape)
            out = module(x)
            assert out.shape == x.shape and torch.isfinite(out).all(), shape
        # Channels-last, transposed and expanded (stride-0) layouts give the same result.
        x = torch.randn(1, 32, 23, 31).expand(2, -1, -1, -1)
        ref = module(x.contiguous())
        for view in (x, x.contiguous(memory_format=torch.channels_last),
                     x.transpose(2, 3).contiguous().transpose(2, 3)):
            assert torch.allclose(module(view), ref, atol=1e-5)


@pytest.mark.parametrize('name', NAMES)
def test_wrong_input_is_refused(name):
    module = _plugin(name)
    with pytest.raises(ValueError, match=r'\(N, 64, H, W\)'):
        module(torch.randn(1, 32, 8, 8))
    with pytest.raises(ValueError, match='floating-point'):
        module(torch.zeros(1, 64, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match='num_heads'):
        PLUGINS[name](64, num_heads=3)


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_reduced_precision(name, dtype):
    """The attention branch (compared alone: next to the shortcut its rounding would vanish)
    with the module cast to ``dtype``, and under bfloat16 autocast."""
    module = _plugin(name, residual=False)
    x = torch.randn(2, 64, 33, 45)
    with torch.no_grad():
        ref = module(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            autocast = module(x)
        low = module.to(dtype)(x.to(dtype))
    for out in (low, autocast):
        assert out.shape == ref.shape and torch.isfinite(out).all()
        assert relative_difference(out.float(), ref) < 3e-2


# ----------------------------------------------------------- the backbones' attention
def _zero_mlp(block: nn.Module) -> None:
    """Make a block's MLP branch add nothing: its output layer is zero."""
    with torch.no_grad():
        block.mlp.fc2.weight.zero_()
        block.mlp.fc2.bias.zero_()


def _load_block(plugin: nn.Module, block: nn.Module, extra: dict = ()) -> None:
    """The block's attention weights into the plug-in, under the same names."""
    state = {k: v for k, v in block.state_dict().items() if not k.startswith(('mlp.', 'norm2.'))}
    state.update(extra)
    state['gamma1'] = torch.ones_like(plugin.gamma1) if block.gamma1 is None else block.gamma1
    plugin.load_state_dict(state, strict=True)


def test_hat_plugin_is_fastervit_hierarchical_attention():
    torch.manual_seed(0)
    stage = FasterViT(arch='0').eval().stages[2]  # HAT with carrier tokens
    block = stage.blocks[0]
    _zero_mlp(block)
    dim, heads = block.norm1.normalized_shape[0], block.attn.num_heads
    plugin = HATAttention2d(dim, heads, stage.window_size, stage.carrier_init.ct_size).eval()
    _load_block(plugin, block, {f'carrier_init.{k}': v
                                for k, v in stage.carrier_init.state_dict().items()})
    x = torch.randn(2, dim, 19, 26)
    with torch.no_grad():
        ref, _ = block(x.permute(0, 2, 3, 1), stage.carrier_init(x), stage.window_size)
        out = plugin(x)
    assert relative_difference(out, ref.permute(0, 3, 1, 2)) < 1e-6


def test_bra_plugin_is_biformer_block_attention():
    torch.manual_seed(0)
    backbone = BiFormer(arch='tiny', n_win=7).eval()
    block = backbone.stages[1].blocks[0]  # BRA, topk 4
    _zero_mlp(block)
    attn = block.attn
    dim = block.norm1.normalized_shape[0]
    plugin = BiLevelRoutingAttention2d(dim, attn.num_heads, attn.topk, n_win=attn.n_win).eval()
    _load_block(plugin, block)
    x = torch.randn(2, dim, 30, 23)
    with torch.no_grad():
        ref, out = block(x), plugin(x)
    assert relative_difference(out, ref) < 1e-6


def test_hilo_plugin_is_litv2_block_attention():
    torch.manual_seed(0)
    block = LITv2(arch='s').eval().stages[2].blocks[0]  # HiLo, window 2
    _zero_mlp(block)
    attn = block.attn
    dim = block.norm1.normalized_shape[0]
    heads = attn.lofi_heads + attn.hifi_heads
    plugin = HiLoAttention2d(dim, heads, attn.window_size,
                             alpha=attn.lofi_heads / heads).eval()
    assert (plugin.attn.lofi_heads, plugin.attn.hifi_heads) == (attn.lofi_heads, attn.hifi_heads)
    _load_block(plugin, block)
    x = torch.randn(2, dim, 15, 22)
    with torch.no_grad():
        ref, out = block(x), plugin(x)
    assert relative_difference(out, ref) < 1e-6


# ----------------------------------------------------------- inside ResNet
def _resnet_outputs(resnet: nn.Module, x: torch.Tensor):
    resnet.eval()  # mmdet's ResNet.train returns None
    with torch.no_grad():
        return resnet(x)


@pytest.mark.parametrize('name', NAMES)
def test_resnet50_with_plugin_starts_as_the_plain_network(name):
    """mmdet's ResNet-50 with the plug-in after conv2 of every c3-c5 bottleneck, initialised as
    the runner does: the plain network's weights load, and the outputs equal the plain
    network's exactly at 333x517 and keep their shapes at 800x1333."""
    from mmdet.models.backbones import ResNet
    torch.manual_seed(0)
    plain = ResNet(depth=50)
    plain.init_weights()
    plugins = [dict(cfg=dict(type=name), stages=(False, True, True, True),
                    position='after_conv2')]
    with_plugin = ResNet(depth=50, plugins=plugins)
    with_plugin.init_weights()
    missing, unexpected = with_plugin.load_state_dict(plain.state_dict(), strict=False)
    abbr = PLUGINS[name]._abbr_
    assert unexpected == [] and missing and all(abbr in k for k in missing)
    assert sum(isinstance(m, PLUGINS[name]) for m in with_plugin.modules()) == 4 + 6 + 3
    for size, exact in (((333, 517), True), ((800, 1333), False)):
        x = torch.randn(1, 3, *size)
        ref, out = _resnet_outputs(plain, x), _resnet_outputs(with_plugin, x)
        assert [o.shape for o in out] == [r.shape for r in ref]
        if exact:
            assert all(torch.equal(o, r) for o, r in zip(out, ref))


def test_inside_an_mmpretrain_classifier():
    """mmpretrain's own ResNet has no ``plugins`` argument: an mmpretrain config takes mmdet's
    ResNet (``type='mmdet.ResNet'``) with the plug-ins, as the demo configs do."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    classifier = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='mmdet.ResNet', depth=50, out_indices=(3, ), plugins=[
            dict(cfg=dict(type='HiLoAttention2d'), stages=(False, False, True, True),
                 position='after_conv2')]),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=2048)))
    assert sum(isinstance(m, HiLoAttention2d) for m in classifier.modules()) == 6 + 3
    classifier.eval()
    with torch.no_grad():
        assert classifier(torch.randn(2, 3, 96, 128), mode='tensor').shape == (2, 4)


# ----------------------------------------------------------- export
def test_onnx_export_with_dynamic_sizes(tmp_path):
    """All three in one network, exported once with dynamic batch/H/W; onnxruntime at other
    sizes equals PyTorch."""
    torch.manual_seed(0)
    net = nn.Sequential(*(_with_unit_scale(PLUGINS[n](32, num_heads=2, residual=True))
                          for n in NAMES)).eval()
    path = str(tmp_path / 'plugins.onnx')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        export_onnx(net, path, torch.randn(1, 32, 28, 35), ['out'])
    rows = check_onnx(path, net, [torch.randn(1, 32, 40, 52), torch.randn(2, 32, 17, 61)],
                      ['out'])
    assert len(rows) == 2 and max(r.relative for r in rows) < 1e-4, rows
