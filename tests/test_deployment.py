"""Every road beyond CPU-eager float32: tracing (mmengine's complexity counter,
``torch.jit.trace``), ONNX export with dynamic batch / height / width checked in onnxruntime
(both exporters, backbones and a whole segmentor), ``torch.compile(dynamic=True)``, bfloat16
autocast at detection sizes and in training, the precision rules, and the geometry caches."""
import warnings

import pytest
import torch

from conftest import REPO, run_python
from mmvitplug.models import BiFormer, FasterViT, LITv2
from mmvitplug.models.layers import geometry, position
from mmvitplug.utils.deployment import check_onnx, export_onnx
from mmvitplug.utils.deployment import relative_difference as relative
from test_backbones import FAMILIES, NAMES, _randomise_batch_norms, build

RELEASED = {'fastervit': lambda: FasterViT('0'), 'biformer': lambda: BiFormer('tiny'),
            'litv2': lambda: LITv2('s')}
OUTPUTS = [f'out{i}' for i in range(4)]


@pytest.fixture(scope='module', params=NAMES)
def released(request):
    """The default variant of each family, with the authors' initialisation (eval mode)."""
    torch.manual_seed(0)
    model = RELEASED[request.param]()
    model.init_weights()
    _randomise_batch_norms(model)
    model.family_key = request.param
    return model.eval()


def test_complexity_counter_and_jit_trace(released):
    """mmdet's / mmseg's get_flops.py path (mmengine traces the model) and a trace that keeps
    the geometry symbolic: the graph traced at 224x224 runs at 333x517, batch 2."""
    from mmengine.analysis import get_model_complexity_info
    x = torch.randn(1, 3, 224, 224)
    info = get_model_complexity_info(released, inputs=(x, ), show_table=False, show_arch=False)
    assert info['flops'] > 1e9
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        traced = torch.jit.trace(released, x, check_trace=False)
        x = torch.randn(2, 3, 333, 517)
        for out, ref in zip(traced(x), released(x)):
            assert out.shape == ref.shape and relative(out, ref) < 1e-4


def test_onnx_export_with_dynamic_axes(released, tmp_path):
    """TorchScript exporter, dynamic batch / H / W; onnxruntime at sizes and batches other than
    the export's equals PyTorch."""
    path = str(tmp_path / 'backbone.onnx')
    export_onnx(released, path, torch.randn(1, 3, 224, 224), OUTPUTS)
    rows = check_onnx(path, released, [torch.randn(1, 3, 320, 480), torch.randn(2, 3, 333, 517)],
                      OUTPUTS)
    assert len(rows) == 8 and max(r.relative for r in rows) < 1e-4, rows


@pytest.mark.slow
@pytest.mark.parametrize('family', NAMES)
def test_dynamo_onnx_export(family, tmp_path):
    """The torch.export-based exporter on each family's small test model."""
    torch.manual_seed(0)
    model = build(family).eval()
    path = str(tmp_path / 'backbone.onnx')
    export_onnx(model, path, torch.randn(2, 3, 224, 224), OUTPUTS, exporter='dynamo')
    rows = check_onnx(path, model, [torch.randn(1, 3, 320, 480), torch.randn(2, 3, 333, 517)],
                      OUTPUTS)
    assert max(r.relative for r in rows) < 1e-4, rows


def test_segmentor_export_tool(tmp_path):
    """tools/deployment/pytorch2onnx.py on a UPerNet config: the whole segmentor, image in,
    per-pixel logits out, checked by the tool at non-square sizes it did not export."""
    out = tmp_path / 'upernet.onnx'
    proc = run_python(['tools/deployment/pytorch2onnx.py', 'configs/demo/upernet_demo.py',
                       '--out', str(out), '--shape', '256', '320', '--dynamic'], check=True)
    assert 'mmseg segmentor' in proc.stdout and 'ok: within 0.0001 relative' in proc.stdout
    assert '2x3x333x517  seg_logits' in proc.stdout and out.is_file()


def test_segmentor_logits_are_mmseg_inference():
    """The exported function is what mmseg's inference computes (its seg_logits), preprocessing
    included."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    from mmvitplug.utils.deployment import SegmentorLogits, make_exportable
    init_default_scope('mmseg')
    cfg = Config.fromfile(str(REPO / 'configs/demo/upernet_demo.py'))
    torch.manual_seed(0)
    segmentor = MODELS.build(cfg.model).eval()
    image = torch.randint(0, 256, (3, 150, 230), dtype=torch.uint8)
    sample = SegDataSample(metainfo=dict(img_shape=(150, 230), ori_shape=(150, 230)))
    with torch.no_grad():
        data = segmentor.data_preprocessor(dict(inputs=[image], data_samples=[sample]), False)
        expected = segmentor.predict(data['inputs'], data['data_samples'])[0].seg_logits.data
        ours = make_exportable(SegmentorLogits(segmentor))(image[None].float())[0]
    assert relative(ours, expected) < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize('family', NAMES)
def test_compile_dynamic_matches_eager(family):
    """torch.compile(dynamic=True) (dynamo graphs, AOT autograd; inductor's codegen is
    measured in benchmarks/deployment.py) equals eager at three sizes, with two graphs: one
    for the first size, one general (a first size with single-window stages specialises)."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = build(family).eval()
    compiled = torch.compile(model, dynamic=True, backend='aot_eager')
    before = torch._dynamo.utils.counters['stats']['unique_graphs']
    for h, w in ((224, 224), (320, 480), (333, 517)):
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            for out, ref in zip(compiled(x), model(x)):
                assert relative(out, ref) < 1e-4, (h, w)
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] - before <= 2


@pytest.mark.parametrize('size', [(800, 1344), (1344, 1344)], ids=['800x1344', '1344x1344'])
def test_bfloat16_autocast_at_detection_sizes(released, size):
    """A detector trained with bf16 AMP sees features within 3e-2 of float32 (the deformable
    merging's positions, the position MLPs and the routing stay float32)."""
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        reference = released(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            outs = released(x)
    for i, (out, ref) in enumerate(zip(outs, reference)):
        assert torch.isfinite(out).all(), i
        assert relative(out, ref) < 3e-2, (i, relative(out, ref))


def test_deformable_merging_samples_in_float32():
    """bfloat16 cannot count past 256: a map wider than that is still sampled at the right
    positions."""
    from mmvitplug.models.layers import DeformableTokenMerging
    torch.manual_seed(0)
    merge = DeformableTokenMerging(16, 32).eval()
    with torch.no_grad():
        merge.conv_offset.weight.normal_(0, 0.1)
        for width in (256, 336):
            x = torch.randn(1, 16, 200, width)
            expected = merge(x)
            with torch.autocast('cpu', dtype=torch.bfloat16):
                got = merge(x.bfloat16())
            assert relative(got, expected) < 2e-2, width


def test_precision_rules_under_autocast():
    """Position MLPs and routing scores are float32 under autocast, and equal to their values
    without autocast."""
    from mmvitplug.models.layers import RelativePositionBias, bra
    torch.manual_seed(0)
    bias = RelativePositionBias(4)
    plain = bias((7, 7), 4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        auto = bias((7, 7), 4)
        q, k = torch.randn(2, 64, 32), torch.randn(2, 64, 32)
        routed_auto = bra.route(q, k, 8, 32**-0.5)
    assert auto.dtype == torch.float32 and torch.equal(auto, plain)
    assert torch.equal(routed_auto, bra.route(q, k, 8, 32**-0.5))


def test_bfloat16_training_step_on_cpu():
    """AutocastOptimWrapper (what --cfg-options optim_wrapper.type=AutocastOptimWrapper
    selects): the training forward runs in bfloat16; loss and gradients are finite."""
    from mmvitplug.models import AutocastOptimWrapper
    for family in NAMES:
        torch.manual_seed(0)
        model = build(family).train()
        wrapper = AutocastOptimWrapper(optimizer=torch.optim.AdamW(model.parameters(), 1e-3))
        dtypes = []
        linear = next(m for n, m in model.named_modules() if n.endswith('mlp.fc1'))
        linear.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
        with wrapper.optim_context(model):
            outs = model(torch.randn(2, 3, 96, 128))
            loss = sum(o.float().square().mean() for o in outs)
        assert dtypes and set(dtypes) == {torch.bfloat16}, family
        wrapper.update_params(loss)
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p).all() for p in model.parameters())
    with pytest.raises(ValueError, match='float16 needs a loss scale'):
        AutocastOptimWrapper(dtype='float16', optimizer=torch.optim.SGD(model.parameters(), 1))


def test_geometry_caches_are_on_the_device_and_bounded():
    cache = geometry.GeometryCache(maxsize=4)
    for n in range(10):
        cache.get(n, lambda: torch.zeros(1))
    assert len(cache) == 4
    table, index = position.log_relative_coords(5, 9, device='meta')
    assert table.device.type == index.device.type == 'meta'
    assert table.dtype == torch.float32 and index.dtype == torch.int64
    assert position.centred_grid(4, 6, device='meta').device.type == 'meta'
    for n in range(200):
        position.centred_grid(n + 1, 3)
    assert len(position._GRIDS) <= position._GRIDS.maxsize


@pytest.mark.parametrize('family', NAMES)
def test_geometry_is_built_on_the_input_device(family):
    """A forward pass on the meta device runs (a table made on the CPU would not mix with it),
    and a second pass at the same size makes no device copy."""
    with torch.device('meta'):
        model = build(family, **(dict(n_win=4) if family == 'biformer' else {})).eval()
    x = torch.randn(1, 3, 97, 130, device='meta')
    with torch.no_grad():
        shapes = [tuple(o.shape) for o in model(x)]
        copies = _device_copies(lambda: model(x))
    assert shapes == [(1, model.feature_info[i]['num_chs'], *FAMILIES[family][3](97, 130)[i])
                      for i in range(4)]
    assert copies == []


def _device_copies(fn) -> list:
    """The ops of ``fn()`` that move a tensor to another device."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.found = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            target = kwargs.get('device')
            if target is not None and args and isinstance(args[0], torch.Tensor) \
                    and torch.device(target) != args[0].device:
                self.found.append(str(func))
            return func(*args, **kwargs)

    with Record() as record:
        fn()
    return list(record.found)
