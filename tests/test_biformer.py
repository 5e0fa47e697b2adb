"""BiFormer: equality with the authors' model (reference cases), bi-level routing attention
against a region-by-region implementation, region policies, chunked routing, converters."""
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import build_classifier, reference_dir
from mmvitplug.models import BiFormer
from mmvitplug.models.layers import (BiLevelRoutingAttention, GlobalAttentionLePE, bra,
                                     fast_paths, region_grid)
from mmvitplug.testing import GatherAllBRA

TOL = dict(rtol=1e-4, atol=1e-4)
TINY = dict(embed_dims=(16, 32, 64, 128), depths=(1, 1, 2, 1), head_dim=8, mlp_ratios=2.0)


def test_reference_data_present():
    assert len(list(reference_dir('biformer').glob('*.pt'))) >= 3


# ---------------------------------------------------------------------- routing attention
def _naive_bra(attn: BiLevelRoutingAttention, x: torch.Tensor) -> torch.Tensor:
    """BRA written region by region as the paper describes it, padding like the authors'
    ``auto_pad``: zero-pad the (normalised) input to whole regions, project all tokens, route
    on region means, attend per query region over the concatenated tokens of its routed
    regions, add a depthwise conv of the padded V map, project, crop."""
    b, h, w, c = x.shape
    (ny, nx), (rh, rw) = region_grid((h, w), attn.n_win, attn.region_size)
    xp = F.pad(x, (0, 0, 0, nx * rw - w, 0, ny * rh - h))
    qkv = attn.qkv(xp)
    qk, heads = attn.qk_dim, attn.num_heads
    q, k, v = qkv[..., :qk], qkv[..., qk:2 * qk], qkv[..., 2 * qk:]

    def region(t, i):
        ry, rx = divmod(i, nx)
        return t[ry * rh:(ry + 1) * rh, rx * rw:(rx + 1) * rw].reshape(rh * rw, -1)

    out = torch.zeros(b, ny * rh, nx * rw, c)
    topk = min(attn.topk, ny * nx)
    for n in range(b):
        q_means = torch.stack([region(q[n], i).mean(0) for i in range(ny * nx)])
        k_means = torch.stack([region(k[n], i).mean(0) for i in range(ny * nx)])
        routes = (q_means @ k_means.T).topk(topk, dim=-1).indices
        for i in range(ny * nx):
            keys = torch.cat([region(k[n], j) for j in routes[i].tolist()])
            values = torch.cat([region(v[n], j) for j in routes[i].tolist()])
            queries = region(q[n], i)
            parts = []
            for hq, hk, hv in zip(queries.chunk(heads, -1), keys.chunk(heads, -1),
                                  values.chunk(heads, -1)):
                parts.append((hq @ hk.T * attn.scale).softmax(-1) @ hv)
            ry, rx = divmod(i, nx)
            out[n, ry * rh:(ry + 1) * rh, rx * rw:(rx + 1) * rw] = torch.cat(parts, -1).view(
                rh, rw, c)
    lepe = attn.lepe(v.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    return attn.proj(out + lepe)[:, :h, :w]


BRA_CASES = [  # (h, w, n_win, region_size, topk)
    (14, 14, 7, None, 4), (17, 11, 7, None, 4), (9, 23, 4, None, 3), (5, 6, 7, None, 16),
    (16, 12, None, 4, 2), (13, 10, None, 4, 3), (7, 5, None, 8, 4), (30, 3, None, 2, 5),
]


@pytest.mark.parametrize('h,w,n_win,region_size,topk', BRA_CASES,
                         ids=[f'{c[0]}x{c[1]}-n{c[2]}-s{c[3]}-k{c[4]}' for c in BRA_CASES])
def test_bra_matches_a_region_by_region_implementation(h, w, n_win, region_size, topk):
    torch.manual_seed(0)
    attn = BiLevelRoutingAttention(16, 2, topk, qk_dim=8, n_win=n_win, region_size=region_size)
    with torch.no_grad():
        attn.qkv.bias.normal_(0, 0.5)  # padded tokens carry the bias: make it visible
    x = torch.randn(2, h, w, 16)
    with torch.no_grad():
        expected = _naive_bra(attn, x)
        torch.testing.assert_close(attn(x), expected, rtol=1e-5, atol=1e-5)
        with fast_paths(False):
            torch.testing.assert_close(attn(x), expected, rtol=1e-5, atol=1e-5)
        attn.__class__ = GatherAllBRA
        if topk < math.prod(region_grid((h, w), n_win, region_size)[0]):
            torch.testing.assert_close(attn(x), expected, rtol=1e-5, atol=1e-5)


def test_chunked_routing_equals_gathering_everything(monkeypatch):
    """Many small chunks (the bounded-memory path) give the authors' all-at-once result, in
    values and gradients."""
    torch.manual_seed(0)
    attn = BiLevelRoutingAttention(32, 4, topk=3, n_win=5)
    x = torch.randn(2, 23, 31, 32)
    results = []
    for cls, chunk_elements in ((GatherAllBRA, bra.GATHER_CHUNK_ELEMENTS),
                                (BiLevelRoutingAttention, 1000),
                                (BiLevelRoutingAttention, bra.GATHER_CHUNK_ELEMENTS)):
        monkeypatch.setattr(bra, 'GATHER_CHUNK_ELEMENTS', chunk_elements)
        attn.__class__ = cls
        xg = x.clone().requires_grad_()
        out = attn(xg)
        grads = torch.autograd.grad(out.square().sum(), [xg, *attn.parameters()])
        with torch.no_grad():
            results.append((out.detach(), grads, attn(x)))
    for out, grads, no_grad_out in results[1:]:
        torch.testing.assert_close(out, results[0][0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(no_grad_out, results[0][0], rtol=1e-5, atol=1e-5)
        for a, b in zip(grads, results[0][1]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_global_attention_with_lepe():
    torch.manual_seed(0)
    attn = GlobalAttentionLePE(32, num_heads=8).eval()
    x = torch.randn(2, 5, 7, 32)
    with torch.no_grad():
        q, k, v = attn.qkv(x.reshape(2, 35, 32)).chunk(3, -1)
        heads = [(hq @ hk.transpose(1, 2) * 4**-0.5).softmax(-1) @ hv
                 for hq, hk, hv in zip(q.chunk(8, -1), k.chunk(8, -1), v.chunk(8, -1))]
        lepe = attn.lepe(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        expected = attn.proj(torch.cat(heads, -1).view(2, 5, 7, 32) + lepe)
        torch.testing.assert_close(attn(x), expected, rtol=1e-5, atol=1e-5)


def test_region_grid_policies():
    assert region_grid((56, 56), n_win=7) == ((7, 7), (8, 8))
    assert region_grid((50, 84), n_win=16) == ((16, 16), (4, 6))  # padded to 64 x 96
    assert region_grid((50, 84), region_size=2) == ((25, 42), (2, 2))
    assert region_grid((13, 3), region_size=4) == ((4, 1), (4, 3))
    with pytest.raises(ValueError, match='exactly one'):
        region_grid((8, 8), n_win=2, region_size=4)


def test_region_size_reproduces_the_imagenet_regions():
    """At 224 the released n_win=7 cuts stages 1-3 into regions of 8, 4 and 2 tokens; the
    region-size policy with those sizes is the same model there, and grows the region count
    (not the region) at larger sizes."""
    torch.manual_seed(0)
    by_count = BiFormer(TINY).eval()
    by_size = BiFormer(TINY, region_size=(8, 4, 2)).eval()
    by_size.load_state_dict(by_count.state_dict())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        for a, b in zip(by_count(x), by_size(x)):
            torch.testing.assert_close(a, b)
    attn = by_size.stages[0].blocks[0].attn
    assert (attn.n_win, attn.region_size) == (None, 8)
    assert by_size.stages[3].blocks[0].attn.__class__ is GlobalAttentionLePE


def test_biformer_t_at_dense_sizes():
    """The authors' dense region counts on BiFormer-T: 16 at COCO sizes, 8 at 512x2048."""
    for h, w, n_win in ((800, 1333, 16), (512, 2048, 8)):
        model = BiFormer('tiny', n_win=n_win).eval()
        with torch.no_grad():
            outs = model(torch.randn(1, 3, h, w))
        assert [tuple(o.shape[2:]) for o in outs] == [
            (math.ceil(h / s), math.ceil(w / s)) for s in (4, 8, 16, 32)]
        assert all(torch.isfinite(o).all() for o in outs)


def test_knobs_and_bad_arguments():
    model = BiFormer('tiny', n_win=16, topks=(2, 4, 8, -2))
    assert model.n_win == 16 and model.stages[0].blocks[0].attn.topk == 2
    assert BiFormer('tiny').n_win == 7  # the released default
    assert BiFormer('tiny', region_size=4).region_size == (4, 4, 4, 4)
    with pytest.raises(ValueError, match='not both'):
        BiFormer('tiny', n_win=8, region_size=4)
    with pytest.raises(ValueError, match='region_size must be'):
        BiFormer('tiny', region_size=(8, 4))
    with pytest.raises(ValueError, match='n_win must be >= 1'):
        BiFormer('tiny', n_win=0)
    with pytest.raises(ValueError, match='topks must be'):
        BiFormer('tiny', topks=(1, 4, 0, -2))
    with pytest.raises(ValueError, match='one value per stage'):
        BiFormer(dict(TINY, depths=(1, 1, 2)))


def test_init_weights_follows_the_authors_scheme():
    model = BiFormer(TINY)
    model.init_weights()
    fc1 = model.stages[2].blocks[0].mlp.fc1
    assert 0.015 < fc1.weight.std() < 0.025 and not fc1.bias.any()


# ---------------------------------------------------------------------- converter
def _case(name='tiny_224'):
    return torch.load(reference_dir('biformer') / f'{name}.pt', map_location='cpu',
                      weights_only=True)


@pytest.mark.parametrize('option,value,message', [
    ('kv_downsample_mode', 'ada_avgpool', "kv_downsample_mode='identity'"),
    ('param_routing', True, 'param_routing=False'),
    ('topks', [1, 4, -1, -2], 'topks must be'),
    ('before_attn_dwconv', 5, 'before_attn_dwconv must be 3 or 0'),
    ('side_dwconv', 4, 'side_dwconv must be 0'),
    ('no_such_option', 1, 'not options of the official BiFormer constructor'),
])
def test_unsupported_official_options_are_refused(option, value, message):
    config = dict(_case()['config'], **{option: value})
    with pytest.raises(ValueError, match=message):
        build_classifier('biformer', config)
