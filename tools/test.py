#!/usr/bin/env python
"""Evaluate a checkpoint of any mmvitplug config (detection, segmentation or classification).

The config's ``default_scope`` picks the toolbox, as in ``tools/train.py``. Checkpoints load with
torch's safe loading (``weights_only=True``); this process allows the types mmengine writes in
them (:func:`mmvitplug.utils.allow_runner_checkpoints`, through ``build_runner``)::

    python tools/test.py configs/demo/cascade_mask_rcnn_demo.py work_dirs/demo/det/iter_600.pth
    python tools/test.py CONFIG CHECKPOINT --show-dir vis --out predictions.pkl

The metrics are printed and written to ``<work dir>/test_metrics.json``.
"""
import argparse
import json
import os.path as osp
import sys

from mmvitplug.utils.launch import (LaunchError, add_common_arguments, apply_launch_args,
                                    build_runner, check_checkpoint, check_checkpoint_fits,
                                    check_datasets, enable_visualization, export_local_rank,
                                    load_config, use_single_process_runner)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a checkpoint')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='folder for logs and test_metrics.json '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--show-dir', help='draw the predictions into this folder')
    add_common_arguments(parser, example='test_dataloader.batch_size=1')
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options)
        if not osp.isfile(args.checkpoint):
            raise LaunchError(f'checkpoint not found: {args.checkpoint}')
        weights = check_checkpoint(args.checkpoint)
        # Whole models evaluate in each process: the checkpoint of a sharded run holds one.
        use_single_process_runner(cfg, 'is a training strategy')
        apply_launch_args(cfg, args.config, args.work_dir, args.launcher)
        cfg.load_from = args.checkpoint
        cfg.resume = False
        if args.show_dir:
            enable_visualization(cfg, args.show_dir)
        if args.out and not args.out.endswith(('.pkl', '.pickle')):
            raise LaunchError('--out must name a .pkl or .pickle file')
        check_datasets(cfg, ('test_dataloader', ))
    except LaunchError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    runner = build_runner(cfg)
    try:
        check_checkpoint_fits(runner.model, weights, args.checkpoint)
    except LaunchError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    if args.out:
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    metrics = runner.test()
    metrics = {k: (v.item() if hasattr(v, 'item') else v) for k, v in metrics.items()}
    if runner.rank == 0:
        path = osp.join(cfg.work_dir, 'test_metrics.json')
        with open(path, 'w') as f:
            json.dump(metrics, f, indent=2)
        print(f'test metrics written to {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
