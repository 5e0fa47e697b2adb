"""Training beyond one CPU process: the sharded (FSDP) recipe over two processes (train, resume,
test), its wrap policy, single-process runs of a sharded config, and the GPU check's smoke
mode (benchmarks/gpu.py, on whatever device is here)."""
import json
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import LOADER_OPTIONS, REPO, run_python
from mmvitplug.utils import runner_checkpoints_allowed

FSDP_DEMO = 'configs/demo/upernet_fsdp_demo.py'


def test_block_wrap_policy_makes_each_backbone_block_one_unit():
    """FSDP (one gloo process) wraps exactly the blocks of every stage; the rest of the model
    stays in the root unit."""
    import torch.distributed as dist
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    from mmvitplug.models import FasterViT
    from mmvitplug.sharding import block_wrap_policy
    model = FasterViT(dict(embed_dims=8, in_dim=8, depths=(1, 1, 2, 1),
                           num_heads=(1, 1, 2, 2)))
    blocks = {id(b) for stage in model.stages for b in stage.blocks}
    dist.init_process_group('gloo', init_method='tcp://127.0.0.1:29541', rank=0, world_size=1)
    try:
        wrapped = FSDP(model, auto_wrap_policy=block_wrap_policy, device_id='cpu',
                       use_orig_params=True)
        units = [m.module for m in wrapped.modules() if isinstance(m, FSDP)][1:]  # not the root
        assert {id(u) for u in units} == blocks
        x = torch.randn(1, 3, 64, 64)
        sum(o.sum() for o in wrapped(x)).backward()  # runs, and every parameter is trained
        assert all(p.grad is not None for p in wrapped.parameters())
    finally:
        dist.destroy_process_group()


def test_a_sharded_config_in_one_process_uses_mmengines_runner(capsys):
    from mmvitplug.utils.launch import apply_launch_args, strategy_type
    cfg = Config.fromfile(str(REPO / FSDP_DEMO))
    assert strategy_type(cfg) == 'FSDPStrategy'
    apply_launch_args(cfg, FSDP_DEMO, '/tmp/unused', 'none')
    assert 'runner_type' not in cfg and 'strategy' not in cfg
    assert "FSDPStrategy shards the model over processes" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
def test_fsdp_demo_trains_as_ddp_resumes_and_tests_over_two_cpu_processes(demo_data, tmp_path):
    """tools/dist_train.sh with the FSDP recipe: two processes train over gloo to the same
    weights as data-parallel training of the same model from the same start, and save a whole
    checkpoint (keeping one); a second run resumes from it (model, optimizer, iteration) and
    tools/test.py evaluates the last one in a single process."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    cfg = Config.fromfile(str(REPO / FSDP_DEMO))
    assert [(s.get('begin'), s.get('end')) for s in cfg.param_scheduler] == [(0, 10), (10, 40)]
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta={}), tmp_path / 'start.pth')

    env = dict(os.environ, PYTHON=sys.executable, MMVITPLUG_DEMO_DATA=str(demo_data),
               PORT='29537')
    # One loading worker: its augmentations are drawn from its own seeded generator, not from
    # the main process's, which the two runners advance differently while they build.
    options = ['default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=2',
               'default_hooks.logger.interval=1', *LOADER_OPTIONS,
               'train_dataloader.num_workers=1']
    same_start = [f'load_from={tmp_path / "start.pth"}', 'model.backbone.drop_path_rate=0.0',
                  'model.decode_head.dropout_ratio=0.0', 'model.auxiliary_head.dropout_ratio=0.0']

    def train(config, work_dir, iters, *extra, options=options):
        proc = subprocess.run(
            ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(work_dir), *extra,
             '--cfg-options', f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
             *options], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-4000:]
        assert 'Distributed training: True' in log and 'GPU number: 2' in log
        return log

    work = tmp_path / 'fsdp'
    train(FSDP_DEMO, work, 2, options=options + same_start)
    with runner_checkpoints_allowed():
        ckpt = torch.load(work / 'iter_2.pth', map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == 2
    # A whole model under its own names (no FSDP prefixes), and the optimizer's moments.
    assert any(k.startswith('backbone.stages.') for k in ckpt['state_dict'])
    assert not any('_fsdp' in k or 'flat_param' in k for k in ckpt['state_dict'])
    assert 'exp_avg' in next(iter(ckpt['optimizer']['state'].values()))

    train('configs/demo/upernet_demo.py', tmp_path / 'ddp', 2,
          options=options + same_start + ['model.backbone.with_cp=True',  # and its schedule:
                                          'param_scheduler.0.end=10', 'param_scheduler.1.begin=10',
                                          'param_scheduler.1.end=40'])
    with runner_checkpoints_allowed():
        ddp = torch.load(tmp_path / 'ddp' / 'iter_2.pth', map_location='cpu', weights_only=True)
    assert ddp['state_dict'].keys() == ckpt['state_dict'].keys()
    for key, value in ddp['state_dict'].items():
        torch.testing.assert_close(ckpt['state_dict'][key], value, rtol=1e-5, atol=1e-6,
                                   msg=key)

    log = train(FSDP_DEMO, work, 4, '--resume')
    assert 'resumed epoch: 0, iter: 2' in log and 'Iter(train) [3/4]' in log
    assert sorted(p.name for p in work.glob('iter_*.pth')) == ['iter_4.pth']

    proc = run_python(['tools/test.py', FSDP_DEMO, str(work / 'iter_4.pth'), '--work-dir',
                       str(work), '--cfg-options', *LOADER_OPTIONS],
                      env={'MMVITPLUG_DEMO_DATA': str(demo_data)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'mIoU' in json.loads((work / 'test_metrics.json').read_text())


def test_gpu_check_smoke_mode(tmp_path):
    """benchmarks/gpu.py --smoke on this machine's device: every section it can measure here
    is written, mixed precision is finite."""
    proc = run_python(['benchmarks/gpu.py', '--smoke', '--out', str(tmp_path / 'gpu')])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / 'gpu.json').read_text())
    names = {'FasterViT-0', 'BiFormer-T', 'LITv2-S'}
    assert {r['model'] for r in report['precision']} == names
    assert {r['dtype'] for r in report['precision']} == {'float16', 'bfloat16'}
    assert {r['model'] for r in report['throughput']} == names | {'Swin-T'}
    assert all(r['images_per_s'] > 0 for r in report['throughput'])
    assert report['compile'] and report['compile'][0]['rel_diff'] < 1e-4
    if torch.cuda.is_available():
        assert report['memory'] and report['host_copies']
    text = (tmp_path / 'gpu.md').read_text()
    for section in ('Mixed precision', 'Throughput', 'torch.compile vs eager'):
        assert f'## {section}' in text
