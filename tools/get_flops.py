#!/usr/bin/env python
"""Multiply-adds (FLOPs as the papers count them) and parameters at a FIXED input shape, for a
backbone and for the whole detector / segmentor / classifier of a config, part by part.

    python tools/get_flops.py FasterViT-0                        # a named backbone, 224x224
    python tools/get_flops.py BiFormer-T Swin-T --shape 800 1280
    python tools/get_flops.py CONFIG [--shape H W] [--json out.json]

Targets: a config file (its ``model``: the whole model and its backbone) or a backbone name
(FasterViT-0, BiFormer-T, LITv2-S, Swin-T, PVTv2-b2, ConvNeXt-T). Default shapes: 800x1280 for
mmdet configs, 512x512 for mmseg configs, 224x224 otherwise.

Convention: one multiply-add = one FLOP; convolutions, linear layers, matmuls and the attention
products are counted (see :mod:`mmvitplug.utils.complexity`). Detectors: the dense parts
(backbone, neck, RPN head) at the input shape; the RoI box heads over the config's test-time
number of proposals (``test_cfg.rpn.max_per_img``), the mask heads over its number of
detections (``test_cfg.rcnn.max_per_img``), each stated in the output (the RoI heads do not see
the image, only that many regions).
"""
import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

import torch

from mmvitplug.utils.complexity import count_macs, macs_under, parameter_count, parts
from mmvitplug.utils.named_models import Target, build_target

# The peers' names come from the benchmarks' table (benchmarks/rivals.py), beside ours.
sys.path.append(str(Path(__file__).resolve().parents[1] / 'benchmarks'))
from rivals import NAMED  # noqa: E402

DEFAULT_SHAPES = {'mmdet': (800, 1280), 'mmseg': (512, 512)}


def part_rows(model: torch.nn.Module, macs: dict, prefix: str = '') -> List[dict]:
    rows = []
    for name in parts(model):
        rows.append(dict(part=f'{prefix}{name}', params=parameter_count(model, [name])[0],
                         macs=macs_under(macs, name)))
    return rows


def backbone_report(backbone: torch.nn.Module, x: torch.Tensor, prefix: str = '') -> dict:
    with torch.no_grad():
        macs = count_macs(backbone, lambda: backbone(x))
    return dict(params=parameter_count(backbone)[0], macs=macs[''],
                parts=part_rows(backbone, macs, prefix))


def _fixed_boxes(n: int, h: int, w: int) -> torch.Tensor:
    """``n`` boxes spread over an h x w image (the RoI heads' cost does not depend on where)."""
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.75, h * 0.75])
    wh = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.25, h * 0.25]) + 8
    return torch.cat([xy, xy + wh], 1)


def det_samples(x: torch.Tensor) -> list:
    """mmdet data samples of an unpadded batch ``x`` (DETR-like detectors read the shapes)."""
    from mmdet.structures import DetDataSample
    h, w = x.shape[2:]
    return [DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                        batch_input_shape=(h, w), scale_factor=(1.0, 1.0)))
            for _ in range(x.shape[0])]


def detector_macs(model, x: torch.Tensor, cfg) -> dict:
    """Per-module multiply-adds of a two-stage detector with a stated number of regions."""
    from mmengine.structures import InstanceData
    h, w = x.shape[2:]
    samples = det_samples(x)
    test_cfg = cfg.model.get('test_cfg', {})
    proposals = test_cfg.get('rpn', {}).get('max_per_img', 1000)
    detections = test_cfg.get('rcnn', {}).get('max_per_img', 100)

    def regions(n):
        return [InstanceData(bboxes=_fixed_boxes(n, h, w)) for _ in range(x.shape[0])]

    def dense():
        feats = model.extract_feat(x)
        model.rpn_head(feats)
        return feats

    roi_head = model.roi_head
    with torch.no_grad():
        macs = count_macs(model, dense)
        feats = model.extract_feat(x)
        mask_head = getattr(roi_head, 'mask_head', None)
        try:  # box heads over the proposals, without the mask heads
            roi_head.mask_head = None
            counted = count_macs(roi_head, lambda: roi_head.forward(feats, regions(proposals),
                                                                  samples))
            macs['roi_head.bbox_head'] = macs_under(counted, 'bbox_head')
        finally:
            roi_head.mask_head = mask_head
        if mask_head is not None:  # mask heads (and the box heads before them) over detections
            counted = count_macs(roi_head, lambda: roi_head.forward(feats, regions(detections),
                                                                  samples))
            macs['roi_head.mask_head'] = macs_under(counted, 'mask_head')
    macs['roi_head'] = sum(v for k, v in macs.items() if k.startswith('roi_head.'))
    macs[''] = sum(macs[k] for k in ('backbone', 'neck', 'rpn_head', 'roi_head') if k in macs)
    return dict(macs=macs, proposals=proposals, detections=detections)


def config_report(target: Target, shape: Optional[tuple], batch: int) -> dict:
    model, scope, cfg = target.model, target.scope, target.cfg
    h, w = shape or DEFAULT_SHAPES.get(scope, (224, 224))
    x = torch.randn(batch, 3, h, w)
    report = dict(target=target.name, scope=scope, input=[batch, 3, h, w],
                  backbone=backbone_report(model.backbone, x, 'backbone.'))
    if scope == 'mmdet' and hasattr(model, 'roi_head'):
        det = detector_macs(model, x, cfg)
        macs = det['macs']
        report.update(proposals=det['proposals'], detections=det['detections'])
    else:
        samples = det_samples(x) if scope == 'mmdet' else None
        with torch.no_grad():
            macs = count_macs(model, lambda: model(x, samples, mode='tensor'))
    rows = part_rows(model, macs)
    if 'proposals' in report:  # the RoI heads, each over its stated number of regions
        rows = [r for r in rows if r['part'] != 'roi_head'] + [
            dict(part=k, macs=v, params=parameter_count(model, [k])[0])
            for k, v in macs.items() if k.startswith('roi_head.')]
    report['model'] = dict(params=parameter_count(model)[0], macs=macs[''], parts=rows)
    return report


def named_report(target: Target, shape: Optional[tuple], batch: int) -> dict:
    h, w = shape or (224, 224)
    x = torch.randn(batch, 3, h, w)
    return dict(target=target.name, input=[batch, 3, h, w],
                backbone=backbone_report(target.model, x))


def render(report: dict) -> str:
    b, _, h, w = report['input']
    lines = [f'{report["target"]} at {b}x3x{h}x{w} (GFLOPs = 1e9 multiply-adds)']
    for what in ('backbone', 'model'):
        if what not in report:
            continue
        part = report[what]
        lines.append(f'  {what}: {part["params"] / 1e6:.2f} M params, '
                     f'{part["macs"] / 1e9:.2f} GFLOPs')
        for row in part['parts']:
            if row['macs'] or row['params']:
                note = ''
                if row['part'].startswith('roi_head.bbox'):
                    note = f'  (over {report["proposals"]} proposals)'
                elif row['part'].startswith('roi_head.mask'):
                    note = f'  (over {report["detections"]} detections)'
                lines.append(f'    {row["part"]:<28} {row["params"] / 1e6:8.2f} M '
                             f'{row["macs"] / 1e9:9.2f} G{note}')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('targets', nargs='+', help='config files or backbone names: ' +
                        ', '.join(NAMED))
    parser.add_argument('--shape', type=int, nargs='+', metavar='N',
                        help='input height and width (one value: square)')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--json', help='also write the reports to this JSON file')
    args = parser.parse_args(argv)
    shape = None
    if args.shape:
        if len(args.shape) > 2 or min(args.shape) < 32:
            parser.error('--shape takes H [W], each >= 32')
        shape = (args.shape[0], args.shape[-1])
    reports = []
    for name in args.targets:
        try:
            target = build_target(name, NAMED)
        except ValueError as err:
            print(f'error: {err}', file=sys.stderr)
            return 2
        report = (named_report if target.cfg is None else config_report)(target, shape,
                                                                          args.batch)
        reports.append(report)
        print(render(report), flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(convention='1 multiply-add = 1 FLOP', reports=reports), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
