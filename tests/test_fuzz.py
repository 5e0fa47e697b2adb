"""Property-based input fuzzing of the three released backbones (FasterViT-0, BiFormer-tiny,
LITv2-S): for any drawn input - batch size, odd / prime / very thin / too small sizes, dtype,
model cast to that dtype or not (or autocast), channel count and memory layout (channels-last,
transposed and strided views, stride-0 expanded tensors) - a backbone either returns the
documented outputs (one per ``out_indices``, widths of ``feature_info``, the family's size rule,
all finite, in the model's dtype) or raises a ValueError that names what is wrong with the
input. Any other exception (an error from deep inside an op) fails.

Hypothesis runs derandomized (the same examples on every run) and without its example database,
so CI is reproducible.
"""
import copy
import math
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmvitplug.models import BiFormer, FasterViT, LITv2

# ------------------------------------------------------------------------- the backbones
BUILDERS = {
    'fastervit': lambda: FasterViT(arch='0'),
    'biformer': lambda: BiFormer(arch='tiny'),  # default region settings (n_win=7)
    'litv2': lambda: LITv2(arch='s'),
}
NAMES = sorted(BUILDERS)
MIN_SIZE = 32  # HierarchicalBackbone.min_size: four stages down to stride 32


def _ceil_rule(h: int, w: int) -> List[Tuple[int, int]]:
    """FasterViT and BiFormer (their module docstrings): every 3x3 stride-2 conv rounds up, so
    stage i is ceil(side / 2**(i+2))."""
    return [(math.ceil(h / 2**(i + 2)), math.ceil(w / 2**(i + 2))) for i in range(4)]


def _litv2_rule(h: int, w: int) -> List[Tuple[int, int]]:
    """LITv2 (litv2.py): the patch embedding pads to a multiple of 4 (ceil), then every
    deformable token merging floors."""
    sizes = [(math.ceil(h / 4), math.ceil(w / 4))]
    for _ in range(3):
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    return sizes


SIZE_RULES = {'fastervit': _ceil_rule, 'biformer': _ceil_rule, 'litv2': _litv2_rule}


class Backbones:
    """One family's backbone, built once in eval mode, with float copies per dtype made on
    first use and cached."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._models: Dict[torch.dtype, torch.nn.Module] = {}

    def get(self, dtype: torch.dtype) -> torch.nn.Module:
        if dtype not in self._models:
            if dtype == torch.float32:
                torch.manual_seed(0)
                model = BUILDERS[self.family]().eval()
                with torch.no_grad():  # non-trivial BatchNorm statistics
                    for m in model.modules():
                        if isinstance(m, torch.nn.BatchNorm2d):
                            m.running_mean.normal_(0, 0.1)
                            m.running_var.uniform_(0.5, 1.5)
            else:
                model = copy.deepcopy(self.get(torch.float32)).to(dtype).eval()
            self._models[dtype] = model
        return self._models[dtype]


@pytest.fixture(scope='module', params=NAMES)
def backbones(request) -> Backbones:
    return Backbones(request.param)


# ------------------------------------------------------------------------- the inputs
F32, F64, BF16, F16 = torch.float32, torch.float64, torch.bfloat16, torch.float16
FLOATS = (F32, F64, BF16, F16)
HALVES = (torch.bfloat16, torch.float16)
INTEGERS = (torch.uint8, torch.int64)
#: the input dtypes autocast casts (to its own dtype); it leaves float64 alone
AUTOCAST_CASTS = (torch.float32, ) + HALVES
SIZES = (32, 33, 37, 47, 61, 64, 97, 127)
SMALL_SIZES = (32, 33, 37, 47, 61, 64)  # for half-precision models: slow on CPU
TOO_SMALL = (1, 7, 31)
THIN = ((32, 1400), (1400, 32))
LAYOUTS = ('contiguous', 'channels_last', 'transposed', 'strided', 'expand_batch',
           'expand_rows')


@dataclass(frozen=True)
class Case:
    """One input: an (N, C, H, W) tensor of ``dtype`` in memory ``layout``; ``mode`` is how the
    model runs: 'float32' (left in float32), 'cast' (``model.to(dtype)``, float dtypes only) or
    'autocast' (the float32 model under CPU autocast to ``autocast_dtype``)."""
    batch: int
    height: int
    width: int
    dtype: torch.dtype = torch.float32
    mode: str = 'float32'
    channels: int = 3
    layout: str = 'contiguous'
    autocast_dtype: Optional[torch.dtype] = None

    def model_dtype(self) -> torch.dtype:
        return self.dtype if self.mode == 'cast' else torch.float32


@st.composite
def cases(draw) -> Case:
    dtype = draw(st.sampled_from((F32, ) * 3 + FLOATS[1:] + INTEGERS))
    modes = ['float32']
    if dtype.is_floating_point and dtype != F32:
        modes += ['cast'] * 2  # mostly the model in the input's dtype
    if dtype.is_floating_point:
        modes.append('autocast')
    mode = draw(st.sampled_from(modes))
    autocast_dtype = None
    if mode == 'autocast':
        autocast_dtype = dtype if dtype in HALVES else draw(st.sampled_from(HALVES))
    slow = mode == 'cast' and dtype in HALVES or mode == 'autocast'
    kind = draw(st.sampled_from(['grid'] * 6 + ['thin', 'too_small']))
    if kind == 'thin' and not slow:
        height, width = draw(st.sampled_from(THIN))
    elif kind == 'too_small':
        height, width = draw(st.sampled_from(
            [(s, t) for s in TOO_SMALL + SIZES[:3] for t in TOO_SMALL + SIZES[:3]
             if min(s, t) < MIN_SIZE]))
    else:
        sizes = SMALL_SIZES if slow else SIZES
        height, width = draw(st.sampled_from(sizes)), draw(st.sampled_from(sizes))
    # Mostly valid inputs (they are the costly, informative ones); invalid ones are cheap.
    batch = draw(st.sampled_from((1, 2) * 2 + ((0, ) if slow else (3, 0))))
    channels = draw(st.sampled_from([3] * 8 + [1, 4]))
    layout = draw(st.sampled_from(LAYOUTS))
    return Case(batch, height, width, dtype, mode, channels, layout, autocast_dtype)


def make_input(case: Case) -> torch.Tensor:
    """The drawn tensor, (N, C, H, W) in the drawn memory layout."""
    gen = torch.Generator().manual_seed(case.batch * 7919 + case.height * 131 + case.width)
    n, c, h, w = case.batch, case.channels, case.height, case.width

    def rand(*shape):
        if case.dtype.is_floating_point:
            return torch.randn(*shape, generator=gen).to(case.dtype)
        return torch.randint(0, 256, shape, generator=gen).to(case.dtype)

    if case.layout == 'contiguous':
        x = rand(n, c, h, w)
    elif case.layout == 'channels_last':
        x = rand(n, c, h, w).contiguous(memory_format=torch.channels_last)
    elif case.layout == 'transposed':
        x = rand(n, c, w, h).transpose(2, 3)
    elif case.layout == 'strided':
        x = rand(n, c, 2 * h, 2 * w)[:, :, ::2, ::2]
    elif case.layout == 'expand_batch':
        x = rand(1, c, h, w).expand(n, c, h, w)
    else:  # 'expand_rows'
        x = rand(n, c, 1, w).expand(n, c, h, w)
    assert x.shape == (n, c, h, w) and x.dtype == case.dtype
    return x


# ------------------------------------------------------------------------- the oracle
def input_problems(case: Case) -> Dict[str, str]:
    """What is wrong with the input (problem -> regex its ValueError message must match); empty
    for an input the backbone must take."""
    problems = {}
    if case.channels != 3:
        problems['channels'] = r'expects \(N, 3, H, W\) input, got shape \(\d+, \d+, \d+, \d+\)'
    if not case.dtype.is_floating_point:
        problems['dtype'] = rf'floating-point .*dtype {re.escape(str(case.dtype))}'
    elif (case.dtype not in AUTOCAST_CASTS if case.mode == 'autocast' else
          case.dtype != case.model_dtype()):
        problems['dtype'] = (rf"model's dtype {re.escape(str(case.model_dtype()))}.*"
                             rf'{re.escape(str(case.dtype))}')
    if min(case.height, case.width) < MIN_SIZE:
        problems['size'] = rf'H, W >= {MIN_SIZE}.*\({case.height}, {case.width}\)'
    if case.batch == 0:
        problems['empty batch'] = r'empty batch'
    return problems


# ------------------------------------------------------------------------- a kernel bug
@pytest.mark.parametrize('mode', ['bfloat16 input', 'autocast'])
def test_bfloat16_downsampling_of_two_wide_maps(mode):
    """The 3x3 stride-2 downsampling of a map 2 wide and 3 high with 256 channels in bfloat16
    (where torch 2.14's oneDNN AMX kernel is wrong: see ``layers.precision.StridedConv2d``)
    equals the convolution of the bfloat16-rounded operands in float64, rounded to bfloat16."""
    from mmvitplug.models.layers.precision import StridedConv2d
    torch.manual_seed(0)
    conv = StridedConv2d(256, 512, 3, stride=2, padding=1, bias=False)
    x = torch.randn(1, 256, 3, 2)
    expected = F.conv2d(x.bfloat16().double(), conv.weight.detach().bfloat16().double(), None,
                        2, 1).bfloat16()
    with torch.no_grad():
        if mode == 'autocast':
            with torch.autocast('cpu', dtype=torch.bfloat16):
                got = conv(x)
        else:
            got = conv.bfloat16()(x.bfloat16())
    assert got.dtype == torch.bfloat16 and torch.isfinite(got).all()
    ulp = expected.float().abs() * 2**-7  # one bfloat16 step
    assert ((got.float() - expected.float()).abs() <= ulp).all()


def run(model: torch.nn.Module, x: torch.Tensor, case: Case):
    with torch.no_grad():
        if case.mode == 'autocast':
            with torch.autocast('cpu', dtype=case.autocast_dtype):
                return model(x)
        return model(x)


def check(backbones: Backbones, case: Case) -> None:
    problems = input_problems(case)
    model = backbones.get(case.model_dtype())
    x = make_input(case)
    if problems:
        with pytest.raises(ValueError) as info:
            run(model, x, case)
        message = str(info.value)
        assert any(re.search(p, message) for p in problems.values()), (
            f'{case}: the ValueError {message!r} names none of the problems {sorted(problems)}')
        return
    outs = run(model, x, case)
    assert isinstance(outs, tuple) and len(outs) == len(model.out_indices), case
    sizes = SIZE_RULES[backbones.family](case.height, case.width)
    for i, out in zip(model.out_indices, outs):
        expected = (case.batch, model.feature_info[i]['num_chs'], *sizes[i])
        assert tuple(out.shape) == expected, f'{case}: output {i} {tuple(out.shape)}'
        if case.mode == 'autocast':
            assert out.dtype in (torch.float32, case.autocast_dtype), f'{case}: {out.dtype}'
        else:
            assert out.dtype == case.dtype, f'{case}: output {i} is {out.dtype}'
        assert torch.isfinite(out).all(), f'{case}: output {i} has non-finite values'


# ------------------------------------------------------------------------- the property
@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(case=cases())
@example(case=Case(1, 32, 32))
@example(case=Case(2, 97, 61, layout='strided'))  # primes
@example(case=Case(1, 32, 1400))
@example(case=Case(1, 1400, 32, layout='transposed'))
@example(case=Case(1, 33, 37, F16, 'cast'))
@example(case=Case(2, 32, 47, BF16, 'cast'))
@example(case=Case(1, 32, 37, BF16, 'autocast', autocast_dtype=BF16))
@example(case=Case(1, 64, 64, torch.uint8))
@example(case=Case(1, 33, 32, F64, 'cast', layout='channels_last'))
@example(case=Case(3, 37, 47, layout='expand_batch'))
@example(case=Case(2, 47, 33, layout='expand_rows'))
@example(case=Case(1, 64, 64, F64))  # float64 input, float32 model
@example(case=Case(0, 64, 64))  # empty batch
@example(case=Case(1, 64, 31))
@example(case=Case(1, 64, 64, channels=1))
def test_any_input_gives_documented_outputs_or_a_clear_error(backbones, case):
    check(backbones, case)
