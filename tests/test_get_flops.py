"""FLOP counting (tools/get_flops.py and mmvitplug.utils.complexity) on small inputs: hand
counts, attention products, fused kernels, per-part sums, the command line."""
import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import run_python
from mmvitplug.models import BiFormer
from mmvitplug.models.layers import conv_bn_act
from mmvitplug.models.layers.fused import linear_act
from mmvitplug.utils.complexity import count_macs, macs_under, parameter_count, parts


class Plain(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 5, padding=2, groups=8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.depthwise(self.conv(x))
        return self.fc(x.flatten(2).transpose(1, 2))


def test_plain_conv_and_linear_model_matches_the_hand_count():
    model = Plain()
    x = torch.randn(2, 3, 10, 12)
    macs = count_macs(model, lambda: model(x))
    pixels = 2 * 10 * 12
    assert macs['conv'] == pixels * 8 * 3 * 9
    assert macs['depthwise'] == pixels * 8 * 25  # groups: one input channel per output
    assert macs['fc'] == pixels * 8 * 4
    assert macs[''] == macs['conv'] + macs['depthwise'] + macs['fc']
    assert parameter_count(model, ['conv', 'fc', '']) == (8 * 27 + 8, 36, 8 * 27 + 8 + 208 + 36)


@pytest.mark.parametrize('grad', [False, True])
def test_attention_products_are_counted(grad):
    """q @ k^T and attn @ v, whichever kernel runs (fused CPU attention without autograd)."""
    q, k, v = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 7, 4), torch.randn(1, 2, 7, 3)
    holder = nn.Module()
    with torch.set_grad_enabled(grad):
        macs = count_macs(holder, lambda: F.scaled_dot_product_attention(q, k, v))
    assert macs[''] == 2 * (5 * 7 * 4) + 2 * (5 * 7 * 3)


def test_fused_conv_bn_activation_counts_as_its_conv():
    conv, bn = nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6).eval()
    x = torch.randn(1, 4, 9, 9)
    holder = nn.Module()
    counts = []
    for grad in (False, True):  # oneDNN fused kernel, then the plain modules
        with torch.set_grad_enabled(grad):
            counts.append(count_macs(holder, lambda: conv_bn_act(x, conv, bn, 'gelu'))[''])
    assert counts[0] == counts[1] == 81 * 6 * 4 * 9


def test_fused_linear_counts_as_the_linear():
    layer, x = nn.Linear(5, 7), torch.randn(2, 3, 5)
    counts = []
    for grad in (False, True):  # oneDNN GEMM + GELU, then F.linear and F.gelu
        with torch.set_grad_enabled(grad):
            counts.append(count_macs(layer, lambda: linear_act(x, layer.weight, layer.bias,
                                                               'gelu'))[''])
    assert counts[0] == counts[1] == 2 * 3 * 7 * 5


def test_parts_sum_to_the_total_and_match_the_published_count():
    model = BiFormer('tiny', out_indices=(3, )).eval()
    with torch.no_grad():
        macs = count_macs(model, lambda: model(torch.randn(1, 3, 224, 224)))
    assert parts(model)[:5] == ('patch_embed', 'stages.0', 'stages.1', 'stages.2', 'stages.3')
    assert sum(macs_under(macs, p) for p in parts(model)) == macs['']
    assert round(macs[''] / 1e9, 1) == 2.2  # BiFormer-T's published 2.2 GFLOPs (head: 0.5 M)


def test_command_line_on_named_backbones(tmp_path):
    out = tmp_path / 'flops.json'
    proc = run_python(['tools/get_flops.py', 'LITv2-S', 'Swin-T', '--shape', '224', '--json',
                       str(out)], check=True)
    assert 'LITv2-S at 1x3x224x224' in proc.stdout
    data = json.loads(out.read_text())
    assert data['convention'] == '1 multiply-add = 1 FLOP'
    lit, swin = data['reports']
    assert lit['input'] == [1, 3, 224, 224]
    assert round(lit['backbone']['macs'] / 1e9, 1) == 3.7  # LITv2-S: 3.7 G published
    assert round(swin['backbone']['macs'] / 1e9, 1) == 4.5  # Swin-T: 4.5 G
    assert [r['part'] for r in lit['backbone']['parts']][:5] == [
        'patch_embed', 'stages.0', 'stages.1', 'stages.2', 'stages.3']


def test_command_line_on_a_detector_config_states_the_regions(tmp_path):
    out = tmp_path / 'flops.json'
    proc = run_python(['tools/get_flops.py', 'configs/demo/cascade_mask_rcnn_demo.py',
                       '--shape', '128', '160', '--json', str(out)], check=True)
    report = json.loads(out.read_text())['reports'][0]
    assert report['input'] == [1, 3, 128, 160]
    rows = {r['part']: r for r in report['model']['parts']}
    assert {'backbone', 'neck', 'rpn_head', 'roi_head.bbox_head', 'roi_head.mask_head'} <= set(rows)
    assert report['model']['macs'] == sum(r['macs'] for r in rows.values())
    assert rows['backbone']['macs'] == report['backbone']['macs']
    assert f'over {report["proposals"]} proposals' in proc.stdout
    assert f'over {report["detections"]} detections' in proc.stdout


def test_command_line_rejects_unknown_targets():
    proc = run_python(['tools/get_flops.py', 'ResNet-1000'])
    assert proc.returncode == 2 and 'neither a config file' in proc.stderr
    assert 'Traceback' not in proc.stderr
