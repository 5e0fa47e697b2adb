#!/usr/bin/env python
"""Train any mmvitplug config (detection, segmentation or classification).

The config's ``default_scope`` (mmdet, mmseg or mmpretrain) picks the toolbox whose runner is
built, so one script serves every config::

    python tools/train.py configs/demo/cascade_mask_rcnn_demo.py
    python tools/train.py CONFIG --work-dir work_dirs/x --amp --cfg-options train_cfg.max_iters=100
    python tools/train.py CONFIG --resume                 # latest checkpoint in the work dir
    python tools/train.py CONFIG --resume path/to/iter_500.pth

Checkpoints are written atomically and carry the random generators' states
(:func:`mmvitplug.engine.make_resumable`), so a run killed at any point and resumed ends as an
uninterrupted one would; ``--resume`` skips a checkpoint that does not load, naming it. They
load with torch's safe loading: this process allows the types mmengine writes in them
(:func:`mmvitplug.utils.allow_runner_checkpoints`, through ``build_runner``).

Multi-process training: ``bash tools/dist_train.sh CONFIG NUM_PROCESSES [ARGS]``.
"""
import argparse
import sys

from mmvitplug.engine import make_resumable
from mmvitplug.utils.checkpoint import CheckpointError
from mmvitplug.utils.launch import (LaunchError, add_common_arguments, apply_launch_args,
                                    build_runner, check_checkpoint, check_datasets,
                                    check_pretrained, choose_resume_checkpoint, enable_amp,
                                    export_local_rank, load_config)


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
        make_resumable(cfg)
        if args.resume is not None:
            choose_resume_checkpoint(cfg, args.resume)
        elif cfg.get('load_from') and '://' not in cfg.load_from:
            check_checkpoint(cfg.load_from)
        check_pretrained(cfg)
        check_datasets(cfg, ('train_dataloader', 'val_dataloader'))
    except LaunchError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    runner = build_runner(cfg)
    try:
        runner.train()
    except CheckpointError as err:  # a pretrained checkpoint that does not fit or load
        print(f'error: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
