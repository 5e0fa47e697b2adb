"""FasterViT: equality with the authors' model (reference cases), converters, any input size,
padding and carrier-token geometry, training utilities and input checks."""
import math

import pytest
import torch

from conftest import reference_dir
from mmvitplug.converters import official_classifier_cfg, official_to_mmpretrain
from mmvitplug.models import FasterViT
from mmvitplug.models.layers import HATBlock, carrier_pooling, fast_paths
from mmvitplug.models.layers import hat as hat_module
from mmvitplug.models.layers import position

TOL = dict(rtol=1e-4, atol=1e-4)
TINY = dict(embed_dims=16, in_dim=8, depths=(1, 1, 2, 2), num_heads=(1, 1, 2, 4), mlp_ratios=2.0,
            layer_scale=0.5, do_propagation=True)


def test_reference_data_present():
    assert len(list(reference_dir('fastervit').glob('*.pt'))) >= 3


@pytest.fixture(scope='module')
def tiny():
    torch.manual_seed(0)
    model = FasterViT(arch=TINY).eval()
    with torch.no_grad():  # visible layer scales and non-trivial BatchNorm statistics
        for name, p in model.named_parameters():
            if name.endswith(('gamma1', 'gamma2')):
                p.uniform_(0.5, 1.0)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


def test_fastervit0_at_dense_sizes():
    model = FasterViT('0').eval()
    for h, w in ((800, 1333), (512, 2048)):
        with torch.no_grad():
            outs = model(torch.randn(1, 3, h, w))
        assert [tuple(o.shape[2:]) for o in outs] == [
            (math.ceil(h / s), math.ceil(w / s)) for s in (4, 8, 16, 32)]


def test_padding_never_changes_real_positions(tiny, monkeypatch):
    """Windows pad the map; whatever the padding holds, the real positions get the same result
    (padded keys are masked)."""
    x = torch.randn(2, 3, 150, 250)  # stage 3: 10 x 16 -> padded to 14 x 21; stage 4: 5 x 8
    with torch.no_grad():
        expected = tiny.forward_stages(x)

    def pad_with_noise(t, multiple):
        _, h, w, _ = t.shape
        padded = torch.randn(t.shape[0], -(-h // multiple) * multiple,
                             -(-w // multiple) * multiple, t.shape[3]) * 100
        padded[:, :h, :w] = t
        return padded

    monkeypatch.setattr(hat_module, 'pad_to_multiple', pad_with_noise)
    with torch.no_grad():
        noisy = tiny.forward_stages(x)
    for a, b in zip(expected, noisy):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def _naive_hat_block(block: HATBlock, x: torch.Tensor, carriers: torch.Tensor, ws: int):
    """HAT block written window by window (no padding): window (i, j) attends over carrier
    rows ct*i.., columns ct*j.. of the grid, then its own tokens."""
    b, h, w, c = x.shape
    nh, nw = h // ws, w // ws
    ct_size = carriers.shape[1] // nh
    x = x + block.pos_embed((ws, ws)).view(ws, ws, c).repeat(nh, nw, 1)
    carriers = block.carrier(carriers)
    out_x, out_ct = torch.empty_like(x), torch.empty_like(carriers)
    for i in range(nh):
        for j in range(nw):
            win = x[:, i * ws:(i + 1) * ws, j * ws:(j + 1) * ws].reshape(b, ws * ws, c)
            rows = slice(i * ct_size, (i + 1) * ct_size)
            cols = slice(j * ct_size, (j + 1) * ct_size)
            ct = carriers[:, rows, cols].reshape(b, -1, c)
            t = torch.cat([ct, win], 1)
            t = t + block.gamma1 * block.attn(block.norm1(t), (ws, ws), ct.shape[1])
            t = t + block.gamma2 * block.mlp(block.norm2(t))
            ct, win = t[:, :ct.shape[1]], t[:, ct.shape[1]:]
            out_x[:, i * ws:(i + 1) * ws, j * ws:(j + 1) * ws] = win.reshape(b, ws, ws, c)
            out_ct[:, rows, cols] = ct.reshape(b, ct_size, ct_size, c)
    return out_x, out_ct


@pytest.mark.parametrize('windows', [(2, 5), (3, 1), (2, 2)])
def test_carrier_tokens_follow_their_windows_on_any_grid(windows):
    torch.manual_seed(0)
    ws, c = 7, 16
    block = HATBlock(c, 2, mlp_ratio=2.0, layer_scale=0.7, with_carriers=True).eval()
    x = torch.randn(2, windows[0] * ws, windows[1] * ws, c)
    carriers = torch.randn(2, 2 * windows[0], 2 * windows[1], c)
    with torch.no_grad():
        ours = block(x, carriers, ws)
        naive = _naive_hat_block(block, x, carriers, ws)
    for a, b in zip(ours, naive):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_carrier_pooling_geometry():
    # The authors' fixed models: 14 -> kernel 5 stride 3 (224 input), 28 -> kernel 7 stride 3.
    assert carrier_pooling(14, 7, 2) == (5, 3)
    assert carrier_pooling(28, 7, 2) == (7, 3)
    for side in range(2, 200):
        kernel, stride = carrier_pooling(side, 7, 2)
        tokens = 2 * math.ceil(side / 7)
        assert (side - kernel) // stride + 1 == tokens and kernel >= stride >= 1
    with pytest.raises(ValueError, match='too small'):
        carrier_pooling(1, 7, 2)


def test_repeated_sizes_reuse_the_geometry(tiny, monkeypatch):
    """Eagerly, each geometry table is built once per (size, device): a second pass at the same
    size builds nothing."""
    from mmvitplug.models.layers import clear_caches, geometry
    caches = list(geometry.shared_caches().values())
    assert {'position.log_relative_coords', 'position.centred_grid', 'hat.key_padding',
            'hat.nearest_upsampling', 'hat.window_tiling'} <= set(geometry.shared_caches())
    clear_caches()
    assert not any(len(c) for c in caches)
    built = []
    real_arange = torch.arange
    monkeypatch.setattr(torch, 'arange', lambda *a, **k: built.append(1) or real_arange(*a, **k))
    with torch.no_grad():
        tiny(torch.randn(1, 3, 96, 160))
        first, sizes = len(built), [len(c) for c in caches]
        tiny(torch.randn(1, 3, 96, 160))
    assert first > 0 and len(built) == first
    assert [len(c) for c in caches] == sizes


def _position_modules(model):
    return [m for m in model.modules()
            if isinstance(m, (position.RelativePositionBias, position.AbsolutePositionMLP))]


def test_position_mlps_are_reused_only_while_their_weights_are_unchanged():
    """In eval mode under no_grad the position MLPs' outputs are kept per grid; any change of
    a weight (in place, through ``.data`` as mmengine's EMA writes, by load_state_dict, by a
    dtype change) gives the new weights' output, and training, autograd and the plain path
    (fast paths off) never keep anything."""
    torch.manual_seed(0)
    model, fresh = FasterViT(arch=TINY).eval(), FasterViT(arch=TINY).eval()
    x = torch.randn(1, 3, 64, 96)

    def expected():  # the same weights in a model whose caches are empty
        fresh.load_state_dict(model.state_dict())
        for m in _position_modules(fresh):
            m.results.clear()
        return fresh(x)

    with torch.no_grad():
        first = model(x)
        assert all(torch.equal(a, b) for a, b in zip(model(x), first))
        assert all(len(m.results) for m in _position_modules(model))
        mlp = _position_modules(model)[0].cpb_mlp
        for change in (lambda: mlp[2].weight.data.mul_(1.5),      # the EMA's way
                       lambda: mlp[0].bias.add_(0.25),            # in place
                       lambda: model.load_state_dict(FasterViT(arch=TINY).state_dict())):
            before = model(x)
            change()
            after = model(x)
            assert not torch.equal(after[2], before[2])
            assert all(torch.equal(a, b) for a, b in zip(after, expected()))
        double = model.double()(x.double())
        assert all(torch.allclose(a, b.double(), atol=1e-5) for a, b in zip(double, after))
        model.float()

    for m in _position_modules(model):
        m.results.clear()
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    model(x)  # autograd on: nothing kept either
    with torch.no_grad(), fast_paths(False):  # nor on the plain path (what FLOP counts run)
        model(x)
    assert not any(len(m.results) for m in _position_modules(model))

    # Tables above max_elements are recomputed, not kept (memory at very large inputs).
    with torch.no_grad():
        for m in _position_modules(model):
            m.results.max_elements = 0
        bounded = model(x)
        assert not any(len(m.results) for m in _position_modules(model))
        assert all(torch.equal(a, b) for a, b in zip(bounded, expected()))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match='unknown FasterViT arch'):
        FasterViT('7')
    with pytest.raises(ValueError, match='misses'):
        FasterViT(dict(embed_dims=32))
    with pytest.raises(ValueError, match='cannot use hat'):
        FasterViT(TINY, hat=(True, False, True, False))
    with pytest.raises(ValueError, match='ct_size >= 1'):
        FasterViT(TINY, ct_size=0)
    with pytest.raises(ValueError, match='window_size needs one value per stage'):
        FasterViT(TINY, window_size=(7, 7, 7))
    with pytest.raises(ValueError, match='out_indices'):
        FasterViT(TINY, out_indices=(4, ))


def test_knobs_override_the_arch():
    model = FasterViT('0', window_size=8, ct_size=1, hat=(False, False, True, True),
                      do_propagation=True)
    assert model.window_size == (8, ) * 4
    assert model.stages[3].carrier_init is not None and model.stages[3].carrier_init.ct_size == 1
    assert model.stages[3].blocks[-1].propagate and not model.stages[3].blocks[0].propagate
    with torch.no_grad():
        outs = model.eval()(torch.randn(1, 3, 96, 130))
    assert outs[3].shape == (1, 512, 3, 5)


def test_init_weights_follows_the_authors_scheme():
    model = FasterViT(arch=TINY)
    model.init_weights()
    fc1 = model.stages[2].blocks[0].mlp.fc1
    assert 0.015 < fc1.weight.std() < 0.025 and not fc1.bias.any()
    torch.testing.assert_close(model.stages[2].blocks[0].gamma1, torch.full((64, ), 0.5))


@pytest.mark.parametrize('option,value,message', [
    ('qk_scale', 0.1, 'qk_scale=None'),
    ('attn_drop_rate', 0.1, 'attn_drop_rate=0.0'),
    ('window', 7, 'not options of the official FasterViT constructor'),
])
def test_unsupported_official_options_are_refused(option, value, message):
    config = dict(dim=32, in_dim=16, depths=[1, 1, 2, 2], num_heads=[2, 2, 4, 4],
                  window_size=[7, 7, 7, 7], ct_size=2, mlp_ratio=2, **{option: value})
    with pytest.raises(ValueError, match=message):
        official_classifier_cfg('fastervit', config)


def test_a_required_official_option_is_named_when_missing():
    config = dict(in_dim=16, depths=[1, 1, 2, 2], num_heads=[2, 2, 4, 4],
                  window_size=[7, 7, 7, 7], ct_size=2, mlp_ratio=2)
    with pytest.raises(ValueError, match="config misses 'dim'"):
        official_classifier_cfg('fastervit', config)


def test_the_duplicated_carrier_conv_must_agree():
    data = torch.load(reference_dir('fastervit') / 'tiny_224.pt', map_location='cpu',
                      weights_only=True)
    weights = dict(data['state_dict'])
    key = 'levels.2.global_tokenizer.to_global_feature.pos.weight'
    weights[key] = weights[key] + 1
    with pytest.raises(ValueError, match='one module in the official model'):
        official_to_mmpretrain('fastervit', weights)
