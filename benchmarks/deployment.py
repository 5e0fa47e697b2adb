#!/usr/bin/env python
"""Deployment benchmark: the CPU runtimes (PyTorch eager, onnxruntime, OpenVINO) side by side
for backbones and whole models, whole-detector exports of every detection config, compiled vs
eager, and how many graphs torch.compile builds over a multi-scale sweep.

    .venv/bin/python benchmarks/deployment.py     # writes benchmarks/deployment.{json,md}

1. ``runtimes``: latency of PyTorch eager, onnxruntime and OpenVINO (CPU, float32, as many
   threads as torch uses) for our three backbones and mmdet's Swin-T at 512x512 and 800x1344,
   the whole UPerNet of FasterViT-0 and of Swin-T at 512x512 (mmseg's UPerNet recipe, only the
   backbone differs) and the whole Cascade Mask R-CNN of FasterViT-0 and of Swin-T at 800x1344
   (our recipe; eager is mmdet's own ``test_step``), interleaved per size; random weights.
   Each model is exported as ``tools/deployment/pytorch2onnx.py --dynamic`` does (TorchScript
   exporter, opset 17), at the timed size: mmdet's Swin-T freezes its window padding when
   traced, so its graph is right only at its export size.
1b. ``detector_exports``: every detection config of the repository exported whole (random
   weights) and checked against mmdet's inference in onnxruntime at two other sizes.
2. ``torch.compile(model, dynamic=False)`` (inductor, one graph per size: what a fixed-size
   deployment compiles) against eager for ours and mmdet's Swin-T at 512x512, interleaved,
   with the time of the first (compiling) call.
3. The first call of ``torch.compile(model, dynamic=True)`` (inductor) at 512x512, each model in
   a fresh process with an empty inductor cache and a time limit (``--dynamic-timeout``).
4. bfloat16 autocast against float32 at detection sizes: the relative error (max |diff| / max
   |float32|) of each output, authors' initialisation (``init_weights``), seed 0.
5. Graphs dynamo builds for each of our backbones over ten input sizes (a detector's
   multi-scale training sizes and odd ones), counted with a backend that only counts.

Each section's table is written as soon as it is measured.

Eval mode, no_grad, float32, batch 1; BiFormer-T with the authors' region count for the size
(n_win 8 at 512x512, 16 at 800x1344).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import biformer_n_win, build_backbone, header_line, write_report  # noqa: E402

from mmvitplug.utils.benchmarking import interleaved_medians, machine_header  # noqa: E402
from mmvitplug.utils.deployment import export_onnx, relative_difference  # noqa: E402

OURS = ['FasterViT-0', 'BiFormer-T', 'LITv2-S']
SIZES = [(512, 512), (800, 1344)]
COMPILE_SIZES = [(512, 512)]  # inductor takes minutes per model and size on 2 cores
SWEEP = [(480, 1333), (512, 1333), (640, 1333), (672, 1333), (800, 1333), (1024, 1333),
         (333, 517), (517, 333), (224, 224), (37, 1400)]


RUNTIMES = ('eager', 'onnxruntime', 'openvino')
PEER = 'Swin-T'
REPO = HERE.parent
# Whole-model benchmarks: (model, size) and the whole-detector export sweep's configs (each
# family's headline Cascade Mask R-CNN, smallest Mask R-CNN and RetinaNet, the demo detector).
WHOLE_SIZES = {'UPerNet': (512, 512), 'Cascade Mask R-CNN': (800, 1344)}
DETECTOR_CONFIGS = [
    'configs/demo/cascade_mask_rcnn_demo.py',
    'configs/fastervit/cascade_mask_rcnn_coco.py',
    'configs/biformer/cascade_mask_rcnn_coco.py',
    'configs/biformer/mask-rcnn_biformer-small_fpn_1x_coco.py',
    'configs/biformer/retinanet_biformer-small_fpn_1x_coco.py',
    'configs/litv2/cascade_mask_rcnn_coco.py',
    'configs/litv2/mask-rcnn_litv2-s_fpn_1x_coco.py',
    'configs/litv2/retinanet_litv2-s_fpn_1x_coco.py',
    'configs/plugins/mask-rcnn_r50-bra-c3-c5_fpn_1x_coco.py',
]


def build(name: str, h: int, w: int) -> torch.nn.Module:
    if name == 'BiFormer-T':
        name = f'BiFormer-T n_win={biformer_n_win(h, w)}'
    torch.manual_seed(0)
    return build_backbone(name)


def whole_model(kind: str, backbone: str):
    """``kind`` ('UPerNet' or 'Cascade Mask R-CNN') with ``backbone`` (a name of
    rivals.NAMED) in our recipe, random weights: (the model, its scope)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from rivals import NAMED
    recipe = ('upernet_160k_ade20k.py' if kind == 'UPerNet' else
              'cascade_mask_rcnn_fpn_3x_coco.py')
    cfg = Config.fromfile(REPO / 'configs/_base_/recipes' / recipe)
    scope, backbone_cfg = NAMED[backbone]
    channels = [64, 128, 256, 512] if backbone == 'FasterViT-0' else [96, 192, 384, 768]
    cfg.model.backbone = dict(backbone_cfg, _scope_=scope, out_indices=(0, 1, 2, 3))
    if kind == 'UPerNet':
        cfg.model.decode_head.in_channels = channels
        cfg.model.auxiliary_head.in_channels = channels[2]
    else:
        cfg.model.neck.in_channels = channels
    scope = 'mmseg' if kind == 'UPerNet' else 'mmdet'
    init_default_scope(scope)
    torch.manual_seed(0)
    model = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS.build(cfg.model)
    return model.eval(), scope


def _export(module, path, sample, names, axes=None):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        export_onnx(module, path, sample, names, axes=axes)


def _runtime_runners(label: str, eager, path: str, x: torch.Tensor) -> dict:
    from mmvitplug.utils.runtimes import load_onnx
    runners = {f'{label} eager': eager}
    for runtime in RUNTIMES[1:]:
        run = load_onnx(path, runtime, threads=torch.get_num_threads())
        runners[f'{label} {runtime}'] = lambda r=run, a=x.numpy(): r(a)
    return runners


def _runtime_rows(medians: dict, labels: dict) -> list:
    rows = []
    for label, row in labels.items():
        row.update({f'{r}_ms': medians[f'{label} {r}'] * 1e3 for r in RUNTIMES})
        rows.append(row)
    return rows


def runtimes(repeats: int, workdir: str) -> list:
    """Latency per runtime (eager, onnxruntime, OpenVINO), backbones then whole models."""
    from mmvitplug.utils.deployment import ExportTarget, SegmentorLogits, make_exportable
    from mmvitplug.utils.detection_graph import DetectionGraph, preprocess
    rows = []
    for h, w in SIZES:
        print(f'backbones in each runtime at {h}x{w} ...', flush=True)
        x = torch.randn(1, 3, h, w)
        runners, labels = {}, {}
        for name in OURS + [PEER]:
            model = build(name, h, w)
            path = f'{workdir}/{name}-{h}x{w}.onnx'
            _export(model, path, x, [f'out{i}' for i in range(4)])
            runners.update(_runtime_runners(name, lambda m=model: m(x), path, x))
            labels[name] = dict(model=name, part='backbone', height=h, width=w)
        rows += _runtime_rows(interleaved_medians(runners, repeats), labels)
    for kind, (h, w) in WHOLE_SIZES.items():
        print(f'{kind} in each runtime at {h}x{w} ...', flush=True)
        gen = torch.Generator().manual_seed(0)
        image = torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8)
        runners, labels = {}, {}
        for name in ('FasterViT-0', PEER):
            model, scope = whole_model(kind, name)
            path = f'{workdir}/{kind}-{name}.onnx'.replace(' ', '_')
            if scope == 'mmseg':
                module = make_exportable(SegmentorLogits(model)).eval()
                x = image[None].float()
                _export(module, path, x, ['seg_logits'])
                eager, extra = (lambda m=module, a=x: m(a)), {}
            else:
                from mmvitplug.utils.detection_graph import mmdet_predictions
                module = DetectionGraph(model)
                x = preprocess(model, image)
                _export(module, path, x, module.output_names,
                        ExportTarget(module, kind, 3, module.output_names,
                                     'detector').dynamic_axes())
                # eager: mmdet's own inference (data preprocessor and predict)
                eager = lambda m=model, i=image: mmdet_predictions(m, i)  # noqa: E731
                extra = dict(detections=len(mmdet_predictions(model, image).scores))
            runners.update(_runtime_runners(name, eager, path, x))
            labels[name] = dict(model=name, part=kind, height=h, width=w, **extra)
        rows += _runtime_rows(interleaved_medians(runners, repeats), labels)
    return rows


def detector_exports(workdir: str) -> list:
    """Each config of DETECTOR_CONFIGS exported whole at 256x320 (random weights) and checked
    in onnxruntime against mmdet's inference at 320x480 and 333x517."""
    from mmvitplug.utils.deployment import build_export_target, check_shapes
    from mmvitplug.utils.detection_graph import check_detector, preprocess
    rows = []
    for config in DETECTOR_CONFIGS:
        print(f'whole-detector export of {config} ...', flush=True)
        torch.manual_seed(0)
        target = build_export_target(str(REPO / config))
        gen = torch.Generator().manual_seed(0)
        images = [torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8)
                  for _, h, w in [(1, 256, 320)] + check_shapes(True, (1, 256, 320))]
        path = f'{workdir}/detector.onnx'
        _export(target.module, path, preprocess(target.module.detector, images[0]),
                target.output_names, target.dynamic_axes())
        checks = check_detector(path, target.module, images[1:])
        rows.append(dict(config=config, detector=type(target.module.detector).__name__,
                         outputs=target.output_names,
                         size_mib=os.path.getsize(path) / 2**20,
                         checks=[c._asdict() for c in checks],
                         ok=all(c.ok for c in checks)))
    return rows


def compiled_vs_eager(repeats: int) -> list:
    rows = []
    names = OURS + ['Swin-T']
    for h, w in COMPILE_SIZES:
        print(f'compiled vs eager at {h}x{w} ...', flush=True)
        # Static graphs: without dynamic=False a second size (or a second model sharing a
        # layer's code) would switch dynamo to a dynamic recompile.
        torch._dynamo.reset()
        x = torch.randn(1, 3, h, w)
        runners, first = {}, {}
        for name in names:
            model = build(name, h, w)
            fast = torch.compile(model, dynamic=False)
            start = time.perf_counter()
            with torch.no_grad():
                fast(x)
            first[name] = time.perf_counter() - start
            print(f'  {name}: first call {first[name]:.0f} s', flush=True)
            runners[f'{name} eager'] = lambda m=model: m(x)
            runners[f'{name} compiled'] = lambda m=fast: m(x)
        medians = interleaved_medians(runners, repeats)
        for name in names:
            eager, fast = medians[f'{name} eager'], medians[f'{name} compiled']
            rows.append(dict(model=name, height=h, width=w, eager_ms=eager * 1e3,
                             compiled_ms=fast * 1e3, compiled_speedup=eager / fast,
                             first_call_s=first[name]))
    return rows


def dynamic_first_call(name: str) -> dict:
    """Run in a child process: first and second call of ``torch.compile(dynamic=True)`` at
    512x512, then the first call at 333x517."""
    model = build(name, 512, 512)
    fast = torch.compile(model, dynamic=True)
    times = []
    for h, w in ((512, 512), (512, 512), (333, 517)):
        x = torch.randn(1, 3, h, w)
        start = time.perf_counter()
        with torch.no_grad():
            out = fast(x)
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        ref = model(x)
    worst = max(relative_difference(o, r) for o, r in zip(out, ref))
    return dict(first_call_s=times[0], second_call_s=times[1], other_size_s=times[2],
                max_relative_difference=worst)


def dynamic_first_calls(timeout: float) -> list:
    rows = []
    for name in OURS + ['Swin-T']:
        print(f'torch.compile(dynamic=True) first call of {name} '
              f'(limit {timeout:.0f} s) ...', flush=True)
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache)
            try:
                proc = subprocess.run([sys.executable, __file__, '--dynamic-child', name],
                                      env=env, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                rows.append(dict(model=name, finished=False, limit_s=timeout))
                continue
        if proc.returncode:
            raise RuntimeError(f'{name}: dynamic compile failed:\n{proc.stderr[-3000:]}')
        rows.append(dict(model=name, finished=True, limit_s=timeout,
                         **json.loads(proc.stdout.strip().splitlines()[-1])))
    return rows


def graphs_over_sweep() -> list:
    rows = []
    for name in OURS:
        print(f'graphs of {name} over {len(SWEEP)} sizes ...', flush=True)
        torch._dynamo.reset()
        graphs = []

        def count(gm, example_inputs):
            graphs.append(1)
            return gm.forward

        model = build_backbone('BiFormer-T n_win=16' if name == 'BiFormer-T' else name)
        fast = torch.compile(model, dynamic=True, backend=count)
        worst = 0.0
        for h, w in SWEEP:
            x = torch.randn(1, 3, h, w)
            with torch.no_grad():
                for out, ref in zip(fast(x), model(x)):
                    worst = max(worst, relative_difference(out, ref))
        rows.append(dict(model=name, sizes=len(SWEEP), graphs=len(graphs),
                         max_relative_difference=worst))
    return rows


def bfloat16_errors() -> list:
    rows = []
    for name in ['FasterViT-0', 'BiFormer-T n_win=7', 'BiFormer-T n_win=16', 'LITv2-S']:
        torch.manual_seed(0)
        model = build_backbone(name)
        model.init_weights()
        model.eval()
        for h, w in ((800, 1344), (1344, 1344)):
            print(f'bfloat16 autocast vs float32: {name} at {h}x{w} ...', flush=True)
            x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                ref = model(x)
                with torch.autocast('cpu', dtype=torch.bfloat16):
                    low = model(x)
            errors = [relative_difference(o, r) for o, r in zip(low, ref)]
            rows.append(dict(model=name, height=h, width=w, relative_errors=errors,
                             finite=all(bool(o.isfinite().all()) for o in low)))
    return rows


SECTIONS = {
    'runtimes': lambda args, workdir: runtimes(args.repeats, workdir),
    'detector_exports': lambda args, workdir: detector_exports(workdir),
    'bfloat16': lambda args, workdir: bfloat16_errors(),
    'graphs_over_sweep': lambda args, workdir: graphs_over_sweep(),
    'compiled_vs_eager': lambda args, workdir: compiled_vs_eager(args.repeats),
    'dynamic_first_calls': lambda args, workdir: dynamic_first_calls(args.dynamic_timeout),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--out', default=str(HERE / 'deployment'), help='output path stem')
    parser.add_argument('--sections', default=','.join(SECTIONS),
                        help='comma-separated subset of ' + ', '.join(SECTIONS) + '; measured '
                        'sections replace theirs in an existing OUT.json, the others are kept')
    parser.add_argument('--dynamic-timeout', type=float, default=420,
                        help='seconds allowed for each dynamic-shape compilation')
    parser.add_argument('--dynamic-child', metavar='NAME', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.filterwarnings('ignore')
    if args.dynamic_child:
        print(json.dumps(dynamic_first_call(args.dynamic_child)), flush=True)
        return 0
    sections = args.sections.split(',')
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f'unknown sections {sorted(unknown)}; choose from {", ".join(SECTIONS)}')
    import onnxruntime
    import openvino
    info = machine_header()
    print(f'CPU: {info["cpu"]}, {info["threads"]} threads; torch {info["torch"]}', flush=True)
    previous = Path(args.out + '.json')
    runs = load_runs(json.loads(previous.read_text())) if previous.is_file() else []
    # One run per machine (its host name: the CPU model names alike machines alike): this
    # machine's sections are replaced, other machines' kept.
    host = platform.node()
    run = next((r for r in runs if r.get('host') == host), None)
    if run is None:
        run = {}
        runs.append(run)
    run.update(machine=info, host=host, repeats=args.repeats, onnxruntime=onnxruntime.__version__,
               openvino=openvino.__version__.split('-')[0], sweep=SWEEP,
               dynamic_timeout_s=args.dynamic_timeout)
    with tempfile.TemporaryDirectory() as workdir:
        # An empty inductor cache: first calls measure compilation, not a cache hit.
        os.environ['TORCHINDUCTOR_CACHE_DIR'] = workdir
        for section in SECTIONS:
            if section in sections:
                run[section] = SECTIONS[section](args, workdir)
                write_report(args.out, {'runs': runs}, render)
    return 0


def load_runs(result: dict) -> list:
    """The runs of a deployment.json: one per machine (a single-machine file becomes one run;
    its onnxruntime-only table is superseded by the runtimes section and dropped)."""
    if 'runs' in result:
        return result['runs']
    run = {k: v for k, v in result.items() if k not in ('header', 'onnx_vs_eager')}
    return [dict(run, machine=result['header'])]


def render(result: dict) -> str:
    from docs_tables import profile_text
    lines = ['# Deployment: CPU runtimes, whole models, torch.compile', '',
             'Command: `.venv/bin/python benchmarks/deployment.py` (`--sections` re-measures '
             "some sections on this machine and keeps the others and other machines' runs)."]
    for i, run in enumerate(result['runs']):
        lines += ['', f'## Machine {chr(65 + i)}: {run["machine"]["cpu"]}', '',
                  f"{header_line(run['machine'], run['repeats'])} "
                  f"{profile_text(run['machine'])[0].upper()}{profile_text(run['machine'])[1:]}."]
        lines += render_run(run)
    return '\n'.join(lines) + '\n'


def runtime_tables(run: dict) -> list:
    rows = run['runtimes']
    lines = ['', f'### CPU runtimes: PyTorch eager, onnxruntime {run["onnxruntime"]}, OpenVINO '
             f'{run["openvino"]}', '',
             'Latency in ms, batch 1, float32, random weights; each model exported at the timed '
             'size (TorchScript exporter, opset 17, dynamic axes: ours run at any size, while '
             "mmdet's Swin-T freezes its padding when traced, so its graph is right only at the "
             'export size). Speed: eager time / runtime time. Whole UPerNet: image in, logits at the '
             "image size out; whole Cascade Mask R-CNN: eager is mmdet's own inference "
             "(`test_step`: data preprocessor and predict), the runtimes run the exported "
             'graph (preprocessed image in, detections and masks out).', '',
             '| input | model | part | eager | onnxruntime | OpenVINO | onnxruntime speed | '
             'OpenVINO speed |', '|---|---|---|---|---|---|---|---|']
    for r in rows:
        part = r['part'] + (f' ({r["detections"]} detections)' if 'detections' in r else '')
        lines.append(f'| {r["height"]}x{r["width"]} | {r["model"]} | {part} | '
                     f'{r["eager_ms"]:.0f} | {r["onnxruntime_ms"]:.0f} | {r["openvino_ms"]:.0f} '
                     f'| {r["eager_ms"] / r["onnxruntime_ms"]:.2f}x | '
                     f'{r["eager_ms"] / r["openvino_ms"]:.2f}x |')
    peer = {(r['part'], r['height'], r['width']): r for r in rows if r['model'] == PEER}
    lines += ['', f'Ours against {PEER} in the same runtime (its time / ours):', '',
              '| input | model | part | eager | onnxruntime | OpenVINO |',
              '|---|---|---|---|---|---|']
    for r in rows:
        p = peer.get((r['part'], r['height'], r['width']))
        if r['model'] == PEER or p is None:
            continue
        ratios = ' | '.join(f'{p[f"{k}_ms"] / r[f"{k}_ms"]:.2f}x' for k in RUNTIMES)
        lines.append(f'| {r["height"]}x{r["width"]} | {r["model"]} | {r["part"]} | {ratios} |')
    return lines


def detector_export_table(rows: list) -> list:
    lines = ['', '### Whole detectors to ONNX', '',
             'Each config exported whole (random weights) at 256x320 with '
             '`tools/deployment/pytorch2onnx.py CONFIG --dynamic --shape 256 320` (opset 17) and '
             "run in onnxruntime at 320x480 and 333x517 against mmdet's inference of the same "
             'image: detections (mmdet / ONNX), largest box and score differences of the '
             'paired detections (0 / 0: random weights detect nothing above that config\'s '
             'score threshold there).', '',
             '| config | detector | file (MiB) | 320x480 | 333x517 | agrees |',
             '|---|---|---|---|---|---|']
    for r in rows:
        cells = ' | '.join(f'{c["detections"]} / {c["onnx_detections"]}, box {c["box_diff"]:.1e},'
                           f' score {c["score_diff"]:.1e}' for c in r['checks'])
        lines.append(f'| `{r["config"]}` | {r["detector"]} | {r["size_mib"]:.0f} | {cells} | '
                     f'{"yes" if r["ok"] else "**no**"} |')
    return lines


def render_run(result: dict) -> list:
    lines = []
    if result.get('runtimes'):
        lines += runtime_tables(result)
    if result.get('detector_exports'):
        lines += detector_export_table(result['detector_exports'])
    if 'bfloat16' in result:
        lines += ['', '### bfloat16 autocast vs float32 (CPU)', '',
                  'Relative error max|bf16 - fp32| / max|fp32| of each output (stages 1-4); '
                  "authors' initialisation, seed 0.", '',
                  '| input | model | finite | stage 1 | stage 2 | stage 3 | stage 4 |',
                  '|---|---|---|---|---|---|---|']
        for r in result['bfloat16']:
            errors = ' | '.join(f'{e:.1e}' for e in r['relative_errors'])
            lines.append(f'| {r["height"]}x{r["width"]} | {r["model"]} | '
                         f'{"yes" if r["finite"] else "no"} | {errors} |')
    if 'graphs_over_sweep' in result:
        sweep = ', '.join(f'{h}x{w}' for h, w in result['sweep'])
        lines += ['', '### Graphs of torch.compile(dynamic=True) over a multi-scale sweep', '',
                  f'Sizes, in this order: {sweep}. BiFormer-T with n_win 16.', '',
                  '| model | sizes | graphs built | max relative difference to eager |',
                  '|---|---|---|---|']
        for r in result['graphs_over_sweep']:
            lines.append(f'| {r["model"]} | {r["sizes"]} | {r["graphs"]} | '
                         f'{r["max_relative_difference"]:.1e} |')
    if result.get('compiled_vs_eager'):
        lines += ['', '### torch.compile(dynamic=False) (inductor, one graph per size) vs eager',
                  '',
                  'First call: the first call at that size, which compiles (empty inductor '
                  'cache).', '',
                  '| input | model | eager (ms) | compiled (ms) | compiled speed | '
                  'first call (s) |',
                  '|---|---|---|---|---|---|']
        for r in result['compiled_vs_eager']:
            lines.append(f'| {r["height"]}x{r["width"]} | {r["model"]} | {r["eager_ms"]:.0f} | '
                         f'{r["compiled_ms"]:.0f} | {r["compiled_speedup"]:.2f}x | '
                         f'{r["first_call_s"]:.0f} |')
    if result.get('dynamic_first_calls'):
        lines += ['', '### torch.compile(dynamic=True), inductor: compilation time', '',
                  'Fresh process, empty inductor cache: first call at 512x512 (compiles), '
                  'second call at 512x512, first call at 333x517.',
                  '',
                  '| model | first call (s) | second call (s) | 333x517 (s) | '
                  'max relative difference to eager |',
                  '|---|---|---|---|---|']
        for r in result['dynamic_first_calls']:
            if r['finished']:
                lines.append(f'| {r["model"]} | {r["first_call_s"]:.0f} | '
                             f'{r["second_call_s"]:.2f} | {r["other_size_s"]:.2f} | '
                             f'{r["max_relative_difference"]:.1e} |')
            else:
                lines.append(f'| {r["model"]} | not finished in {r["limit_s"]:.0f} s | | | |')
    return lines


if __name__ == '__main__':
    sys.exit(main())
