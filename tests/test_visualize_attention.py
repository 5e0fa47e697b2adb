"""tools/visualize_attention.py and mmvitplug.utils.attention_maps: the drawn maps are the
model's own routing and attention weights, at sizes that need padding, and the tool writes
its PNGs for each family (random weights, and a checkpoint)."""
import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import REPO
from mmvitplug.models import BiFormer, FasterViT, LITv2
from mmvitplug.models.layers import BiLevelRoutingAttention
from mmvitplug.utils.attention_maps import attention_maps

sys.path.insert(0, str(REPO / 'tools'))
import visualize_attention  # noqa: E402

# Not a multiple of any window, region or stride: every stage pads.
SIZE = (100, 132)
QUERY = (61, 93)


def _backbone(family):
    torch.manual_seed(0)
    return {'fastervit': lambda: FasterViT(arch='0'),
            'biformer': lambda: BiFormer(arch='tiny', n_win=3),
            'litv2': lambda: LITv2(arch='s')}[family]().eval()


def _image():
    return torch.randn(1, 3, *SIZE, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def forward_weights(monkeypatch):
    """The attention weights the forward pass uses: every fused attention call is replaced by
    the same computation with the weights kept, for the layers watched (hooks mark where each
    one's forward begins and ends). Returns ``(watch(module), calls)``: ``calls[module]`` lists
    that layer's weights, in call order."""
    calls, current = {}, []

    def sdpa(q, k, v, attn_mask=None, scale=None, **kwargs):
        logits = (q @ k.transpose(-2, -1)) * (q.shape[-1]**-0.5 if scale is None else scale)
        weights = (logits if attn_mask is None else logits + attn_mask).softmax(-1)
        if current:
            calls[current[-1]].append(weights)
        return weights @ v

    def end(module, args, out):
        current.pop()

    def watch(module):
        calls[module] = []
        module.register_forward_pre_hook(lambda m, args: current.append(m))
        module.register_forward_hook(end)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', sdpa)
    return watch, calls


def test_bra_maps_are_the_models_routing_and_attention(forward_weights, monkeypatch):
    model, image = _backbone('biformer'), _image()
    watch, calls = forward_weights
    routed = {}
    attend = BiLevelRoutingAttention.attend_routed

    def spy(self, q, kv, index, out=None):
        routed[self] = index.clone()
        return attend(self, q, kv, index, out)

    monkeypatch.setattr(BiLevelRoutingAttention, 'attend_routed', spy)
    for stage in model.stages[:3]:
        watch(stage.blocks[-1].attn)
    records = attention_maps(model, image, QUERY)
    assert [r.stage for r in records] == [0, 1, 2]  # BRA stages; the last is global
    for record in records:
        attn = model.stages[record.stage].blocks[-1].attn
        m = record.maps
        assert record.query == (QUERY[0] // record.stride, QUERY[1] // record.stride)
        topk = min(attn.topk, m.grid[0] * m.grid[1])
        assert m.index.shape[-1] == topk
        if attn in routed:  # routed: the forward pass's own region indices (batch of one)
            assert torch.equal(m.index[0], routed[attn])
        else:  # every region is routed (stage 3 at 9 regions): all of them, once
            assert topk == m.grid[0] * m.grid[1] and torch.equal(
                m.index[0].sort(-1).values[0], torch.arange(topk))
        (weights, ) = calls[attn]  # (query regions, heads, tokens, keys)
        rh, rw = m.region
        row, col = record.query
        if attn in routed:
            expected = weights[m.query_region, :, row % rh * rw + col % rw]
        else:  # one attention over the whole padded map: keys in map order, regions' here
            h, w = record.map_size
            keys = torch.arange(m.grid[0] * rh * m.grid[1] * rw).view(
                m.grid[0], rh, m.grid[1], rw).permute(0, 2, 1, 3).flatten()
            expected = weights[0, :, row * w + col, keys]
        torch.testing.assert_close(m.attention[0].flatten(1), expected, rtol=1e-4, atol=1e-6)


def test_hat_maps_are_the_models_window_and_carrier_attention(forward_weights):
    model, image = _backbone('fastervit'), _image()
    watch, calls = forward_weights
    block = model.stages[2].blocks[-1]
    watch(block.carrier.attn)
    watch(block.attn)
    (record, ) = attention_maps(model, image, QUERY)
    assert (record.stage, record.block, record.stride) == (2, len(model.stages[2].blocks) - 1,
                                                          16)
    m = record.maps
    (windows, ), (carriers, ) = calls[block.attn], calls[block.carrier.attn]
    h, w = record.map_size
    row, col = record.query
    top, left, ws = m.window
    assert (top, left) == (row // ws * ws, col // ws * ws)
    ct = m.window_carriers.shape[-1]
    within = ct * ct + (row - top) * ws + col - left
    window = windows[row // ws * -(-w // ws) + col // ws, :, within]
    torch.testing.assert_close(m.window_tokens.flatten(1), window[:, ct * ct:], rtol=1e-4,
                               atol=1e-6)
    torch.testing.assert_close(m.window_carriers.flatten(1), window[:, :ct * ct], rtol=1e-4,
                               atol=1e-6)
    # The padded map's keys are masked: no weight falls past the map.
    assert (m.window_tokens[:, h - top:] == 0).all()
    assert (m.window_tokens[:, :, w - left:] == 0).all()
    hc, wc = m.carriers.shape[1:]
    assert (hc, wc) == (-(-h // ws) * ct, -(-w // ws) * ct)
    u, v = m.query_carrier
    assert (u // ct, v // ct) == (row // ws, col // ws)
    torch.testing.assert_close(m.carriers.flatten(1), carriers[0, :, u * wc + v], rtol=1e-4,
                               atol=1e-6)


def test_hilo_maps_are_the_models_hifi_and_lofi_attention(forward_weights):
    model, image = _backbone('litv2'), _image()
    watch, calls = forward_weights
    for stage in model.stages[2:]:
        watch(stage.blocks[-1].attn)
    records = attention_maps(model, image, QUERY)
    assert [r.stage for r in records] == [2, 3]
    for record in records:
        attn = model.stages[record.stage].blocks[-1].attn
        m = record.maps
        row, col = record.query
        top, left, ws = m.window
        wp = -(-record.map_size[1] // ws) * ws  # padded map width
        lofi = calls[attn][-1]  # (B, heads, queries, pooled keys)
        torch.testing.assert_close(m.lofi[0].flatten(1), lofi[0, :, row * wp + col],
                                   rtol=1e-4, atol=1e-6)
        if ws == 1:  # the last stage: global attention, all heads Lo-Fi
            assert m.hifi is None and len(calls[attn]) == 1
            continue
        hifi = calls[attn][0]  # (windows, heads, ws*ws, ws*ws)
        window = top // ws * (wp // ws) + left // ws
        torch.testing.assert_close(m.hifi[0].flatten(1),
                                   hifi[window, :, (row - top) * ws + col - left], rtol=1e-4,
                                   atol=1e-6)


def test_the_tool_draws_the_models_routing(tmp_path, monkeypatch):
    from PIL import Image
    model = _backbone('biformer')
    image = (torch.rand(*SIZE, 3, generator=torch.Generator().manual_seed(2)) * 255).byte()
    routed = []
    attend = BiLevelRoutingAttention.attend_routed

    def spy(self, q, kv, index, out=None):
        if self is model.stages[0].blocks[-1].attn or self is model.stages[1].blocks[-1].attn:
            routed.append(index.clone())
        return attend(self, q, kv, index, out)

    monkeypatch.setattr(BiLevelRoutingAttention, 'attend_routed', spy)
    written = visualize_attention.visualize(model, image.numpy(),
                                            visualize_attention.make_preprocess(), str(tmp_path),
                                            QUERY)
    assert [p.split('/')[-1] for p, _ in written] == [
        f'biformer_stage{s}_block{b}_routing.png' for s, b in ((1, 1), (2, 1), (3, 7))]
    for (path, drawn), index, stride in zip(written, routed, (4, 8)):
        ny, nx = 3, 3
        h, w = -(-SIZE[0] // stride), -(-SIZE[1] // stride)
        rh, rw = -(-h // ny), -(-w // nx)
        query_region = QUERY[0] // stride // rh * -(-w // rw) + QUERY[1] // stride // rw
        assert drawn == [divmod(int(r), nx) for r in index[query_region]]
        with Image.open(path) as png:
            assert png.format == 'PNG' and min(png.size) > 100


@pytest.mark.parametrize('name', ['FasterViT-0', 'configs/demo/upernet_litv2_demo.py'])
def test_cli_writes_one_png_per_attention_stage(name, tmp_path, capsys, monkeypatch):
    """A named backbone and a config's backbone (its preprocessor's normalisation), with a
    checkpoint in the training layout."""
    from PIL import Image
    monkeypatch.chdir(REPO)
    Image.fromarray((torch.rand(90, 70, 3) * 255).byte().numpy()).save(tmp_path / 'in.png')
    family = 'fastervit' if 'FasterViT' in name else 'litv2'
    backbone = visualize_attention.load_backbone(name, None)[0]
    with torch.no_grad():
        next(backbone.parameters()).add_(1.0)
    state = backbone.state_dict()
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in state.items()}}, checkpoint)
    loaded = visualize_attention.load_backbone(name, str(checkpoint))[0].state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    args = [name, str(tmp_path / 'in.png'), '--checkpoint', str(checkpoint), '--query', '80', '5',
            '--out', str(tmp_path / 'vis')]
    assert visualize_attention.main(args) == 0
    out = capsys.readouterr().out
    expected = {'fastervit': ['fastervit_stage3_block5_hierarchical.png'],
                'litv2': ['litv2_stage3_block5_hilo.png', 'litv2_stage4_block1_hilo.png']}[family]
    assert sorted(p.name for p in (tmp_path / 'vis').iterdir()) == expected
    for line in expected:
        assert f'wrote {tmp_path / "vis" / line}' in out
    # A query outside the image is one clear error.
    assert visualize_attention.main(args[:5] + ['90', '5', '--out', str(tmp_path)]) == 2
    assert 'outside the 90x70 image' in capsys.readouterr().err


def test_preprocessing_follows_the_config():
    image = torch.randint(0, 256, (5, 4, 3), dtype=torch.uint8).numpy()
    rgb = visualize_attention.make_preprocess((1., 2., 3.), (2., 2., 2.))(image)
    bgr = visualize_attention.make_preprocess((3., 2., 1.), (2., 2., 2.), bgr=True)(image)
    assert rgb.shape == (1, 3, 5, 4)
    torch.testing.assert_close(rgb[0, 0], (torch.from_numpy(image[..., 0]).float() - 1) / 2)
    torch.testing.assert_close(bgr.flip(1), rgb)


def test_other_backbones_are_refused(capsys, tmp_path):
    assert visualize_attention.main(['Swin-T', str(REPO / 'README.md'), '--out',
                                     str(tmp_path)]) == 2
    assert 'neither a config file nor one of' in capsys.readouterr().err
