"""Parameters and FLOPs of every full detection / segmentation config, backbone and whole model,
at the standard input size, measured with tools/get_flops.py (one subprocess per config).

    .venv/bin/python benchmarks/config_costs.py            # -> config_costs.md, config_costs.json
    .venv/bin/python benchmarks/config_costs.py --render   # page from the JSON only

Detection: 800x1280 (H x W), RoI heads over the config's test-time proposals / detections as
tools/get_flops.py states; segmentation: 512x512, the UPerNet decode and auxiliary heads.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHAPES = {'cascade': (800, 1280), 'upernet': (512, 512)}  # cascade_mask_rcnn_, cascade-mask-rcnn_


def full_configs():
    """(config path, input shape) of the det/seg configs of the three families."""
    for family in ('fastervit', 'biformer', 'litv2'):
        for path in sorted((REPO / 'configs' / family).glob('*.py')):
            for prefix, shape in SHAPES.items():
                if path.name.startswith(prefix):
                    yield path.relative_to(REPO).as_posix(), shape


def measure(config: str, shape) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / 'report.json'
        subprocess.run([sys.executable, 'tools/get_flops.py', config, '--shape', *map(str, shape),
                        '--json', str(out)], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())['reports'][0]


def _row(report: dict) -> str:
    _, _, h, w = report['input']
    task = 'detection' if 'proposals' in report else 'segmentation'
    backbone, model = report['backbone'], report['model']
    return (f'| `{report["target"]}` | {task} | {h}x{w} | {backbone["params"] / 1e6:.1f} | '
            f'{backbone["macs"] / 1e9:.1f} | {model["params"] / 1e6:.1f} | '
            f'{model["macs"] / 1e9:.1f} |')


def render(data: dict) -> str:
    lines = [
        '# Parameters and FLOPs of the detection and segmentation configs', '',
        'Measured by `tools/get_flops.py` (1 multiply-add = 1 FLOP, attention products counted) '
        'through `.venv/bin/python benchmarks/config_costs.py`. Detection at 800x1280 (H x W), '
        'with the RoI heads over the test-time proposals (`test_cfg.rpn.max_per_img`) and the mask '
        'head over `test_cfg.rcnn.max_per_img` detections; segmentation at 512x512, decode and '
        'auxiliary heads. Parameters include everything the config builds (the auxiliary head '
        'too).', '',
        '| config | task | input | backbone params (M) | backbone GFLOPs | model params (M) '
        '| model GFLOPs |', '|---|---|---|---|---|---|---|'
    ]
    lines += [_row(r) for r in data['reports']]
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--render', action='store_true', help='only re-render the JSON')
    args = parser.parse_args(argv)
    json_path, md_path = HERE / 'config_costs.json', HERE / 'config_costs.md'
    if not args.render:
        reports, configs = [], list(full_configs())
        for i, (config, shape) in enumerate(configs, 1):
            start = time.time()
            reports.append(measure(config, shape))
            print(f'[{i}/{len(configs)}] {config} at {shape[0]}x{shape[1]}: '
                  f'{time.time() - start:.0f} s', flush=True)
        json_path.write_text(json.dumps(dict(reports=reports), indent=2) + '\n')
    md_path.write_text(render(json.loads(json_path.read_text())))
    print(md_path.read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
