#!/usr/bin/env python
"""Train any mmvitplug config (detection, segmentation or classification).

The config's ``default_scope`` (mmdet, mmseg or mmpretrain) picks the toolbox whose runner is
built, so one script serves every config::

    python tools/train.py configs/demo/cascade_mask_rcnn_demo.py
    python tools/train.py CONFIG --work-dir work_dirs/x --amp --cfg-options train_cfg.max_iters=100
    python tools/train.py CONFIG --resume                 # latest checkpoint in the work dir
    python tools/train.py CONFIG --resume path/to/iter_500.pth

Multi-process training: ``bash tools/dist_train.sh CONFIG NUM_PROCESSES [ARGS]``.
"""
import argparse
import os
import sys

from mmvitplug.utils.launch import (LaunchError, add_common_arguments, apply_launch_args,
                                    build_runner, check_datasets, check_pretrained,
                                    enable_amp, export_local_rank, load_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector, segmentor or classifier')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='folder for logs and checkpoints '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or without a value from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by the actual batch size (needs auto_scale_lr in config)')
    add_common_arguments(parser, example='train_cfg.max_iters=100 optim_wrapper.optimizer.lr=1e-4')
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options)
        apply_launch_args(cfg, args.config, args.work_dir, args.launcher)
        if args.amp:
            enable_amp(cfg)
        if args.auto_scale_lr:
            if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
                raise LaunchError('--auto-scale-lr needs auto_scale_lr.base_batch_size '
                                  'in the config')
            cfg.auto_scale_lr.enable = True
        if args.resume == 'auto':
            cfg.resume, cfg.load_from = True, None
        elif args.resume is not None:
            if not os.path.isfile(args.resume):
                raise LaunchError(f'checkpoint to resume from not found: {args.resume}')
            cfg.resume, cfg.load_from = True, args.resume
        check_pretrained(cfg)
        check_datasets(cfg, ('train_dataloader', 'val_dataloader'))
    except LaunchError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    runner = build_runner(cfg)
    runner.train()
    return 0


if __name__ == '__main__':
    sys.exit(main())
