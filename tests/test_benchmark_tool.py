"""tools/benchmark.py on tiny inputs: it runs, writes the declared JSON/CSV fields, and refuses
what it cannot do with one line. (Speed itself is measured in benchmarks/, not tested.)"""
import csv
import json

import pytest
import torch

from conftest import run_python

ROW_FIELDS = {'target', 'part', 'batch', 'height', 'width', 'latency_ms', 'images_per_s',
              'speed_vs_first', 'peak_memory_mib'}


def test_backbones_side_by_side(tmp_path):
    out, table = tmp_path / 'bench.json', tmp_path / 'bench.csv'
    proc = run_python(['tools/benchmark.py', 'BiFormer-T', 'LITv2-S', '--shapes', '2x64x64',
                       '64x96', '--repeats', '2', '--no-progress', '--json', str(out), '--csv',
                       str(table)], check=True)
    result = json.loads(out.read_text())
    assert {'cpu', 'threads', 'torch', 'mmengine'} <= set(result['header'])
    assert result['settings'] == dict(device='cpu', dtype='fp32', channels_last=False,
                                      mode='eval', backward=False, compile=None, repeats=2,
                                      warmup=1)
    rows = result['rows']
    assert [(r['target'], r['batch'], r['height'], r['width']) for r in rows] == [
        ('BiFormer-T', 2, 64, 64), ('LITv2-S', 2, 64, 64), ('BiFormer-T', 1, 64, 96),
        ('LITv2-S', 1, 64, 96)]
    for r in rows:
        assert set(r) == ROW_FIELDS and r['latency_ms'] > 0 and r['peak_memory_mib'] > 0
        assert abs(r['images_per_s'] - r['batch'] * 1e3 / r['latency_ms']) < 1e-6
    assert rows[0]['speed_vs_first'] == 1.0
    with open(table) as f:
        assert len(list(csv.DictReader(f))) == 4
    assert '| 2x64x64 | BiFormer-T |' in proc.stdout


def test_training_step_with_autocast_and_channels_last(tmp_path):
    out = tmp_path / 'bench.json'
    run_python(['tools/benchmark.py', 'FasterViT-0', '--shapes', '64x64', '--repeats', '1',
                '--backward', '--dtype', 'bf16', '--channels-last', '--no-memory',
                '--no-progress', '--json', str(out)], check=True)
    result = json.loads(out.read_text())
    assert result['settings']['mode'] == 'train' and result['settings']['backward']
    assert 'peak_memory_mib' not in result['rows'][0]


def test_whole_models_from_configs(tmp_path):
    out = tmp_path / 'bench.json'
    run_python(['tools/benchmark.py', 'configs/demo/upernet_demo.py',
                'configs/demo/cascade_mask_rcnn_demo.py', '--part', 'model', '--shapes',
                '96x128', '--repeats', '1', '--no-progress', '--json', str(out)], check=True)
    rows = json.loads(out.read_text())['rows']
    assert [r['part'] for r in rows] == ['model', 'model']


def test_clear_errors(capsys):
    """In-process (a subprocess per case would cost seconds of imports each): every case exits
    with status 2 and one message, no exception escapes."""
    import importlib.util

    from conftest import REPO
    spec = importlib.util.spec_from_file_location('_benchmark_tool', REPO / 'tools/benchmark.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cases = [(['ResNet-1000'], 'neither a config file'),
             (['BiFormer-T', '--shapes', '64by64'], 'is not HxW or BxHxW'),
             (['BiFormer-T', '--part', 'model'], 'needs config targets'),
             (['configs/demo/upernet_demo.py', '--part', 'model', '--compile'],
              '--compile times backbones')]
    if not torch.cuda.is_available():
        cases.append((['BiFormer-T', '--device', 'cuda'], 'no CUDA device'))
    for args, message in cases:
        try:
            status = tool.main([*args, '--no-progress'])
        except SystemExit as exit:  # argparse's errors
            status = exit.code
        err = capsys.readouterr().err
        assert status == 2 and message in err, (args, err[-500:])


def test_compiled_rows_beside_eager(tmp_path):
    """--compile adds each backbone through torch.compile, timed in the same interleaving,
    with its first (compiling) call reported ('eager' backend: dynamo's graphs without code
    generation, to keep the test short)."""
    out = tmp_path / 'r.json'
    run_python(['tools/benchmark.py', 'LITv2-S', '--shapes', '64x64', '--compile',
                '--compile-backend', 'eager', '--repeats', '1', '--no-memory', '--no-progress',
                '--json', str(out)], check=True)
    rows = json.loads(out.read_text())['rows']
    assert [r['target'] for r in rows] == ['LITv2-S', 'LITv2-S compiled']
    assert rows[1]['first_call_s'] > 0 and 'first_call_s' not in rows[0]
    assert json.loads(out.read_text())['settings']['compile'] == 'eager'


def _benchmark_module(name):
    import importlib
    import sys

    from conftest import REPO
    sys.path.insert(0, str(REPO / 'benchmarks'))
    return importlib.import_module(name)


def test_training_step_ratios_pair_eager_with_eager_and_compiled_with_compiled():
    step = _benchmark_module('training_step')
    rows = [dict(target=t, batch=2, height=64, width=64, latency_ms=ms, first_call_s=9.0)
            for t, ms in (('LITv2-S', 50.0), ('Swin-T', 100.0), ('LITv2-S compiled', 40.0),
                          ('Swin-T compiled', 60.0))]
    lit, swin = step.summarise(rows)
    assert lit['eager_vs_swin_t'] == 2.0 and lit['compiled_vs_swin_t'] == 1.5
    assert lit['compiled_vs_eager'] == 1.25 and swin['compiled_vs_swin_t'] == 1.0


def test_authors_peers_need_the_clones(tmp_path):
    """--authors DIR without the clones fails naming the missing folder, before measuring."""
    authors = _benchmark_module('authors')
    (tmp_path / 'FasterViT').mkdir()
    with pytest.raises(FileNotFoundError, match='BiFormer not found: clone'):
        authors.AuthorsModels(str(tmp_path))
