#!/usr/bin/env python
"""Run mmdet's and mmseg's inference APIs on one image and save the drawn results (PNG).

    python tools/demo_inference.py --image data/demo/coco/val/000000.jpg --out-dir work_dirs/demo \
        --det configs/demo/cascade_mask_rcnn_demo.py work_dirs/demo/det/iter_300.pth \
        --seg configs/demo/upernet_demo.py work_dirs/demo/seg_fastervit/iter_1200.pth

Writes ``det_result.png`` and ``seg_result.png`` into ``--out-dir``; with ``--metrics``, also
prints a summary of the given ``test_metrics.json`` files (written by tools/test.py).
"""
import argparse
import json
import os.path as osp
import sys

import mmcv

from mmvitplug.utils import allow_runner_checkpoints


def run_detector(config: str, checkpoint: str, image: str, out_file: str) -> int:
    from mmdet.apis import inference_detector, init_detector
    from mmdet.registry import VISUALIZERS

    model = init_detector(config, checkpoint, device='cpu')
    result = inference_detector(model, image)
    visualizer = VISUALIZERS.build(model.cfg.visualizer)
    visualizer.dataset_meta = model.dataset_meta
    visualizer.add_datasample(
        'detection', mmcv.imread(image, channel_order='rgb'), data_sample=result,
        draw_gt=False, show=False, pred_score_thr=0.3, out_file=out_file)
    return int((result.pred_instances.scores >= 0.3).sum())


def run_segmentor(config: str, checkpoint: str, image: str, out_file: str) -> list:
    from mmseg.apis import inference_model, init_model, show_result_pyplot

    model = init_model(config, checkpoint, device='cpu')
    result = inference_model(model, image)
    show_result_pyplot(model, image, result, show=False, out_file=out_file, opacity=0.6,
                       draw_gt=False)
    classes = model.dataset_meta['classes']
    return [classes[i] for i in result.pred_sem_seg.data.unique().tolist()]


def main(argv=None) -> int:
    # init_detector / init_model load runner checkpoints with mmengine's loader, under torch's
    # safe loading: allow mmengine's types in them.
    allow_runner_checkpoints()
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--image', required=True)
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--det', nargs=2, metavar=('CONFIG', 'CHECKPOINT'))
    parser.add_argument('--seg', nargs=2, metavar=('CONFIG', 'CHECKPOINT'))
    parser.add_argument('--metrics', nargs='*', default=[], help='test_metrics.json files')
    args = parser.parse_args(argv)
    for path in [args.image] + (args.det or []) + (args.seg or []):
        if not osp.isfile(path):
            print(f'error: file not found: {path}', file=sys.stderr)
            return 2

    outputs = []
    if args.det:
        out = osp.join(args.out_dir, 'det_result.png')
        n = run_detector(*args.det, args.image, out)
        outputs.append(f'{out}  ({n} objects with score >= 0.3)')
    if args.seg:
        out = osp.join(args.out_dir, 'seg_result.png')
        present = run_segmentor(*args.seg, args.image, out)
        outputs.append(f'{out}  (classes: {", ".join(present)})')

    print('\n==== mmvitplug demo summary ====')
    for path in args.metrics:
        with open(path) as f:
            metrics = json.load(f)
        shown = {k: v for k, v in metrics.items()
                 if k in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP',
                          'coco/segm_mAP_50', 'mIoU', 'aAcc', 'accuracy/top1')}
        print(f'{path}: ' + ', '.join(f'{k}={v}' for k, v in shown.items()))
    for line in outputs:
        print(f'visualisation: {line}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
