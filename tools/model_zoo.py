#!/usr/bin/env python
"""Writes the model zoo in OpenMMLab's format: ``configs/<family>/metafile.yml`` for every
ImageNet, detection and segmentation config of the three families, the root ``model-index.yml``
importing them, and the generated tables of ``configs/<family>/README.md``.

    python tools/model_zoo.py            # measure every config with tools/get_flops.py, write all
    python tools/model_zoo.py CONFIG ...  # re-measure only these, keep the others' costs
    python tools/model_zoo.py --render   # measure nothing: rewrite metafiles and README tables
    python tools/model_zoo.py --check [CONFIG ...]  # re-measure, exit 1 if a metafile drifted

Parameters and FLOPs (1 multiply-add = 1 FLOP) are measured now, with ``tools/get_flops.py``'s
report at its default input size per task (224x224 classification, 800x1280 detection, 512x512
segmentation), UPerNet also at 512x2048 (``EXTRA_SHAPES``). Results are published numbers, never
ours (we have not trained these configs): the papers' (``Source: paper``) or the tables the
authors publish with their released models (``Source: authors' release``). Beside ours, the
metafiles keep the parameters and FLOPs the authors publish (``Authors' Costs``) and, for the
authors' released detectors and segmentors, the checkpoint with the command that converts it
(``Converted From``). Each page ends with the licences of mmvitplug's code and of the authors'
code and weights (``mmvitplug.licences``). ``tests/test_model_zoo.py`` fails when a metafile and
the configs or the measured costs drift apart, or a page is not its metafile rendered.
"""
import argparse
import importlib.util
import re
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import yaml

REPO = Path(__file__).resolve().parent.parent
FAMILIES = ('fastervit', 'biformer', 'litv2')


class Task(NamedTuple):
    """What a config's models do, recognised from the config-name prefix."""
    task: str  #: the model's task (the README table it is listed in)
    dataset: str  #: where its results are measured
    data: str  #: its training data
    metrics: Tuple[str, ...]  #: the metrics its results report
    heads: List[str]  #: its architecture beside the backbone


TASKS = {  # config-name prefix -> Task; first match wins ('' last: the ImageNet classifiers)
    'mask-rcnn_': Task('Instance Segmentation', 'COCO', 'COCO', ('box AP', 'mask AP'),
                       ['Mask R-CNN', 'FPN']),
    'retinanet_': Task('Object Detection', 'COCO', 'COCO', ('box AP',), ['RetinaNet', 'FPN']),
    'dino-4scale_': Task('Object Detection', 'COCO', 'COCO', ('box AP',),
                         ['DINO', 'ChannelMapper']),
    # cascade_mask_rcnn_coco.py (the headline config) and cascade-mask-rcnn_<backbone>_...
    'cascade': Task('Instance Segmentation', 'COCO', 'COCO', ('box AP',),
                    ['Cascade Mask R-CNN', 'FPN']),
    'fpn_': Task('Semantic Segmentation', 'ADE20K', 'ADE20K', ('mIoU',), ['Semantic FPN']),
    'upernet': Task('Semantic Segmentation', 'ADE20K', 'ADE20K', ('mIoU',), ['UPerNet']),
    '': Task('Image Classification', 'ImageNet-1k', 'ImageNet-1k', ('Top 1 Accuracy',),
             ['Linear head']),
}
#: The task of a ``Results`` entry per metric, as OpenMMLab's metafiles file them (a Mask R-CNN
#: has an Object Detection result with its box AP and an Instance Segmentation one with its
#: mask AP); other metrics are the config's task's.
METRIC_TASKS = {'box AP': 'Object Detection', 'mask AP': 'Instance Segmentation'}
#: Input sizes (H, W) measured besides get_flops' default, per config-name prefix: UPerNet at
#: 512x2048, the ADE20K single-scale test size at which the Swin and FasterViT papers count
#: UPerNet FLOPs (Swin-T 945 G; FasterViT-2/3/4 974/1076/1290 G).
EXTRA_SHAPES = {'upernet': ((512, 2048), )}
COLLECTIONS = {
    'fastervit': dict(
        Name='FasterViT', backbone='FasterViT',
        Paper=dict(Title='FasterViT: Fast Vision Transformers with Hierarchical Attention',
                   URL='https://arxiv.org/abs/2306.06189'),
        Code='https://github.com/NVlabs/FasterViT',
        Architecture=['Hierarchical Attention', 'Carrier Tokens', 'Window Attention',
                      'Continuous Position Bias', 'Residual Conv Blocks']),
    'biformer': dict(
        Name='BiFormer', backbone='BiFormer',
        Paper=dict(Title='BiFormer: Vision Transformer with Bi-Level Routing Attention',
                   URL='https://arxiv.org/abs/2303.08810'),
        Code='https://github.com/rayleizhu/BiFormer',
        Architecture=['Bi-Level Routing Attention', 'Depthwise Conv Position Encoding',
                      'Local Context Enhancement']),
    'litv2': dict(
        Name='LITv2', backbone='LITv2',
        Paper=dict(Title='Fast Vision Transformers with HiLo Attention',
                   URL='https://arxiv.org/abs/2205.13213'),
        Code='https://github.com/ziplab/LITv2',
        Architecture=['HiLo Attention', 'Deformable Token Merging', 'Depthwise Conv FFN']),
}
# The papers' numbers for exactly the setting of a config (backbone, head, schedule): a number is
# the config's first metric, a dict names the metrics. Configs whose setting the paper does not
# report have no entry; the family README names the nearest setting it does report.
PAPER_RESULTS: Dict[str, Union[float, Dict[str, float]]] = {
    'fastervit/fastervit-0_32xb128_in1k': 82.1, 'fastervit/fastervit-1_32xb128_in1k': 83.2,
    'fastervit/fastervit-2_32xb128_in1k': 84.2, 'fastervit/fastervit-3_32xb128_in1k': 84.9,
    'fastervit/fastervit-4_32xb128_in1k': 85.4, 'fastervit/fastervit-5_32xb128_in1k': 85.6,
    'fastervit/fastervit-6_32xb128_in1k': 85.8,
    'fastervit/cascade_mask_rcnn_coco': 52.1,
    'fastervit/cascade-mask-rcnn_fastervit-3_fpn_ms-crop-3x_coco': 52.4,
    'fastervit/cascade-mask-rcnn_fastervit-4_fpn_ms-crop-3x_coco': 52.9,
    'fastervit/upernet_ade20k': 47.2,
    'fastervit/upernet_fastervit-3_8xb2-160k_ade20k-512x512': 48.7,
    'fastervit/upernet_fastervit-4_8xb2-160k_ade20k-512x512': 49.1,
    'biformer/biformer-tiny_8xb128_in1k': 81.4, 'biformer/biformer-small_8xb128_in1k': 83.8,
    'biformer/biformer-base_8xb128_in1k': 84.3,
    # rayleizhu/BiFormer object_detection/README.md and semantic_segmentation/README.md: the
    # paper's numbers (their columns marked * are later reproductions, not listed here)
    'biformer/mask-rcnn_biformer-small_fpn_1x_coco': {'box AP': 47.8, 'mask AP': 43.2},
    'biformer/mask-rcnn_biformer-base_fpn_1x_coco': {'box AP': 48.6, 'mask AP': 43.7},
    'biformer/retinanet_biformer-small_fpn_1x_coco': 45.9,
    'biformer/retinanet_biformer-base_fpn_1x_coco': 47.1,
    'biformer/fpn_biformer-small_8xb4-80k_ade20k-512x512': 48.9,
    'biformer/fpn_biformer-base_8xb4-80k_ade20k-512x512': 49.9,
    'biformer/upernet_ade20k': 49.8,
    'biformer/upernet_biformer-base_8xb2-160k_ade20k-512x512': 51.0,
    'litv2/litv2-s_8xb128_in1k': 82.0, 'litv2/litv2-m_8xb128_in1k': 83.3,
    'litv2/litv2-b_8xb128_in1k': 83.6,
}
# The results the authors publish beside their released trained models (their repository's
# result tables) for exactly the setting of a config: ziplab/LITv2 detection/README.md and
# segmentation/README.md (also the root README; unchanged since the release commit b354524).
RELEASE_RESULTS: Dict[str, Union[float, Dict[str, float]]] = {
    # NVlabs/FasterViT downstream/object_detection/dino/README.md (12-epoch setting)
    'fastervit/dino-4scale_fastervit-4-21k-224_8xb2-12e_coco': 55.16,
    'litv2/mask-rcnn_litv2-s_fpn_1x_coco': {'box AP': 44.9, 'mask AP': 40.8},
    'litv2/mask-rcnn_litv2-s-ws4_fpn_1x_coco': {'box AP': 44.7, 'mask AP': 40.7},
    'litv2/mask-rcnn_litv2-m_fpn_1x_coco': {'box AP': 46.8, 'mask AP': 42.3},
    'litv2/mask-rcnn_litv2-m-ws4_fpn_1x_coco': {'box AP': 46.5, 'mask AP': 42.0},
    'litv2/mask-rcnn_litv2-b_fpn_1x_coco': {'box AP': 47.3, 'mask AP': 42.6},
    'litv2/mask-rcnn_litv2-b-ws4_fpn_1x_coco': {'box AP': 46.8, 'mask AP': 42.3},
    'litv2/retinanet_litv2-s_fpn_1x_coco': 44.0, 'litv2/retinanet_litv2-s-ws4_fpn_1x_coco': 43.7,
    'litv2/retinanet_litv2-m_fpn_1x_coco': 46.0, 'litv2/retinanet_litv2-m-ws4_fpn_1x_coco': 45.8,
    'litv2/retinanet_litv2-b_fpn_1x_coco': 46.7, 'litv2/retinanet_litv2-b-ws4_fpn_1x_coco': 46.3,
    'litv2/fpn_litv2-s_8xb2-80k_ade20k-512x512': 44.3,
    'litv2/fpn_litv2-m_8xb2-80k_ade20k-512x512': 45.7,
    'litv2/fpn_litv2-b_8xb2-80k_ade20k-512x512': 47.2,
}
SOURCES = {'paper': PAPER_RESULTS, "authors' release": RELEASE_RESULTS}

_LITV2_DET = 'https://github.com/ziplab/LITv2/blob/main/detection/README.md'
_LITV2_SEG = 'https://github.com/ziplab/LITv2/blob/main/segmentation/README.md'


class Costs(NamedTuple):
    """The parameters and FLOPs the authors publish for a config's setting."""
    params_m: Optional[float]  #: parameters (M), None where not published
    gflops: float  #: FLOPs (G; their counters count one multiply-add as one FLOP)
    input: str  #: the input size they state, H x W
    source: str  #: where: 'paper' or the page of their table


def _litv2_det(params_m: float, gflops: float) -> Costs:
    # their get_flops: "Input shape: (3, 1280, 800)" (mmdet's default shape, H x W)
    return Costs(params_m, gflops, '1280x800', _LITV2_DET)


def _litv2_seg(params_m: float, gflops: float) -> Costs:
    return Costs(params_m, gflops, '512x512', _LITV2_SEG)


AUTHORS_COSTS: Dict[str, Costs] = {
    # ziplab/LITv2 detection/README.md (RetinaNet-S also as its get_flops output: 242.39 G,
    # 38.01 M) and segmentation/README.md (Semantic FPN-S: 41.29 G, 31.45 M)
    'litv2/mask-rcnn_litv2-s_fpn_1x_coco': _litv2_det(47, 261),
    'litv2/mask-rcnn_litv2-s-ws4_fpn_1x_coco': _litv2_det(47, 249),
    'litv2/mask-rcnn_litv2-m_fpn_1x_coco': _litv2_det(68, 367),
    'litv2/mask-rcnn_litv2-m-ws4_fpn_1x_coco': _litv2_det(68, 315),
    'litv2/mask-rcnn_litv2-b_fpn_1x_coco': _litv2_det(106, 500),
    'litv2/mask-rcnn_litv2-b-ws4_fpn_1x_coco': _litv2_det(106, 449),
    'litv2/retinanet_litv2-s_fpn_1x_coco': _litv2_det(38.01, 242.39),
    'litv2/retinanet_litv2-s-ws4_fpn_1x_coco': _litv2_det(38, 230),
    'litv2/retinanet_litv2-m_fpn_1x_coco': _litv2_det(59, 348),
    'litv2/retinanet_litv2-m-ws4_fpn_1x_coco': _litv2_det(59, 312),
    'litv2/retinanet_litv2-b_fpn_1x_coco': _litv2_det(97, 481),
    'litv2/retinanet_litv2-b-ws4_fpn_1x_coco': _litv2_det(97, 430),
    'litv2/fpn_litv2-s_8xb2-80k_ade20k-512x512': _litv2_seg(31.45, 41.29),
    'litv2/fpn_litv2-m_8xb2-80k_ade20k-512x512': _litv2_seg(52, 63),
    'litv2/fpn_litv2-b_8xb2-80k_ade20k-512x512': _litv2_seg(90, 93),
    # the FasterViT paper's ADE20K table (UPerNet FLOPs at 512x2048)
    'fastervit/upernet_ade20k': Costs(None, 974, '512x2048', 'paper'),
    'fastervit/upernet_fastervit-3_8xb2-160k_ade20k-512x512': Costs(
        None, 1076, '512x2048', 'paper'),
    'fastervit/upernet_fastervit-4_8xb2-160k_ade20k-512x512': Costs(
        None, 1290, '512x2048', 'paper'),
}


class Release(NamedTuple):
    """The authors' trained model of exactly a config's setting, as their README links it."""
    log: Optional[str]  #: its training log (None: they link none)
    checkpoint: Optional[str] = None  #: the trained checkpoint (None: they link none)


_LITV2_FILES = 'https://github.com/ziplab/LITv2/releases/download/v1.0/'


def _litv2(stem: str) -> Release:
    """A LITv2 release: ``<stem>.pth`` and ``<stem>_log.json`` of the authors' v1.0 assets."""
    return Release(f'{_LITV2_FILES}{stem}_log.json', f'{_LITV2_FILES}{stem}.pth')


RELEASES: Dict[str, Release] = {
    # NVlabs/FasterViT downstream/object_detection/dino/README.md: the model, no log (the
    # authors' DINO layout: the converter maps it to mmdet's DINO)
    'fastervit/dino-4scale_fastervit-4-21k-224_8xb2-12e_coco': Release(
        None, 'https://huggingface.co/ahatamiz/FasterViT/resolve/main/'
        'DINO_4scale_faster_vit_4_21k_224_ms_coco.pth'),
    # ziplab/LITv2 detection/README.md, segmentation/README.md: "model & log" per row (the
    # window-4 files have the window-2 ones' keys: the converter reads the window from the
    # file's name, ``..._ws_4.pth``, or its saved config)
    'litv2/mask-rcnn_litv2-s_fpn_1x_coco': _litv2('mask_rcnn_litv2_s_fpn_1x_coco'),
    'litv2/mask-rcnn_litv2-s-ws4_fpn_1x_coco': _litv2('mask_rcnn_litv2_s_fpn_1x_coco_ws_4'),
    'litv2/mask-rcnn_litv2-m_fpn_1x_coco': _litv2('mask_rcnn_litv2_m_fpn_1x_coco'),
    'litv2/mask-rcnn_litv2-m-ws4_fpn_1x_coco': _litv2('mask_rcnn_litv2_m_fpn_1x_coco_ws_4'),
    'litv2/mask-rcnn_litv2-b_fpn_1x_coco': _litv2('mask_rcnn_litv2_b_fpn_1x_coco'),
    'litv2/mask-rcnn_litv2-b-ws4_fpn_1x_coco': _litv2('mask_rcnn_litv2_b_fpn_1x_coco_ws_4'),
    'litv2/retinanet_litv2-s_fpn_1x_coco': _litv2('retinanet_litv2_s_fpn_1x_coco'),
    'litv2/retinanet_litv2-s-ws4_fpn_1x_coco': _litv2('retinanet_litv2_s_fpn_1x_coco_ws_4'),
    'litv2/retinanet_litv2-m_fpn_1x_coco': _litv2('retinanet_litv2_m_fpn_1x_coco'),
    'litv2/retinanet_litv2-m-ws4_fpn_1x_coco': _litv2('retinanet_litv2_m_fpn_1x_coco_ws_4'),
    'litv2/retinanet_litv2-b_fpn_1x_coco': _litv2('retinanet_litv2_b_fpn_1x_coco'),
    'litv2/retinanet_litv2-b-ws4_fpn_1x_coco': _litv2('retinanet_litv2_b_fpn_1x_coco_ws_4'),
    'litv2/fpn_litv2-s_8xb2-80k_ade20k-512x512': _litv2('litv2_s_fpn_r50_512x512_80k_ade20k'),
    'litv2/fpn_litv2-m_8xb2-80k_ade20k-512x512': _litv2('litv2_m_fpn_r50_512x512_80k_ade20k'),
    'litv2/fpn_litv2-b_8xb2-80k_ade20k-512x512': _litv2('litv2_b_fpn_r50_512x512_80k_ade20k'),
    # rayleizhu/BiFormer object_detection/README.md, semantic_segmentation/README.md: a log
    # (OneDrive) per row, no trained checkpoint
    'biformer/mask-rcnn_biformer-small_fpn_1x_coco': Release(
        'https://1drv.ms/u/s!AkBbczdRlZvChgmyNozEQrrsfOdG?e=aOCj2A'),
    'biformer/mask-rcnn_biformer-base_fpn_1x_coco': Release(
        'https://1drv.ms/u/s!AkBbczdRlZvChhF-itieos4fg28D?e=Gor6oV'),
    'biformer/retinanet_biformer-small_fpn_1x_coco': Release(
        'https://1drv.ms/u/s!AkBbczdRlZvChhKipB3XMN4_nIvO?e=TYZzFc'),
    'biformer/retinanet_biformer-base_fpn_1x_coco': Release(
        'https://1drv.ms/u/s!AkBbczdRlZvChg-8GDypSY9leBsm?e=FyJQm1'),
    'biformer/fpn_biformer-small_8xb4-80k_ade20k-512x512': Release(
        'https://1drv.ms/u/s!AkBbczdRlZvChSjgc05WLlcybVSL?e=CmnxZd'),
    'biformer/fpn_biformer-base_8xb4-80k_ade20k-512x512': Release(
        'https://1drv.ms/u/s!AkBbczdRlZvChSmDV-OKBxckin52?e=zw7PaD'),
    'biformer/upernet_ade20k': Release(
        'https://1drv.ms/u/s!AkBbczdRlZvChSoPnL0axfXOKP9M?e=xk5Ard'),
    'biformer/upernet_biformer-base_8xb2-160k_ade20k-512x512': Release(
        'https://1drv.ms/u/s!AkBbczdRlZvChSscYzL_UEd8spSi?e=DXjhbY'),
}
BEGIN = '<!-- model zoo tables: generated by tools/model_zoo.py, do not edit by hand -->'
END = '<!-- end of generated tables -->'


#: The card's headline configs of every family, listed first (the others by name).
HEADLINES = ('cascade_mask_rcnn_coco.py', 'upernet_ade20k.py')


def family_configs(family: str) -> List[Path]:
    """The family's ImageNet, detection and segmentation configs (every ``.py`` in its folder):
    the headline configs first, then by name."""
    return sorted((REPO / 'configs' / family).glob('*.py'),
                  key=lambda p: (p.name not in HEADLINES, p.name))


def prefix_of(path: Path) -> str:
    """The ``TASKS`` key of a config (its name's prefix; '' for the ImageNet classifiers)."""
    return next(prefix for prefix in TASKS if Path(path).name.startswith(prefix))


def task_of(path: Path) -> Task:
    return TASKS[prefix_of(path)]


def key_of(path: Path) -> str:
    """``<family>/<config stem>``: the key of the tables above."""
    return f'{Path(path).parent.name}/{Path(path).stem}'


def weights_name(config_name: str) -> str:
    """The converted ImageNet weights' file stem of a classification config, as the dense
    configs' ``init_cfg`` name them: the config name without its training settings
    (``fastervit-0_32xb128_in1k`` -> ``fastervit-0_in1k``)."""
    parts = config_name.split('_')
    return f'{parts[0]}_{parts[-1]}'


def extra_shapes(path: Path) -> tuple:
    """The input sizes (H, W) a config is measured at besides get_flops' default."""
    return EXTRA_SHAPES.get(prefix_of(path), ())


def extra_field(shape: tuple) -> str:
    return f'FLOPs ({shape[0]}x{shape[1]})'


def result_task(path: Path, metric: str) -> str:
    """The task of a config's ``Results`` entry holding ``metric``."""
    return METRIC_TASKS.get(metric, task_of(path).task)


def published_results(path: Path) -> Tuple[Dict[str, float], Optional[str]]:
    """The published metrics of a config's setting and their source (empty, None: none)."""
    key = key_of(path)
    for source, table in SOURCES.items():
        if key in table:
            value = table[key]
            metrics = value if isinstance(value, dict) else {task_of(path).metrics[0]: value}
            return dict(metrics), source
    return {}, None


def _get_flops():
    spec = importlib.util.spec_from_file_location('get_flops', REPO / 'tools' / 'get_flops.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(path: Path) -> dict:
    """tools/get_flops.py's report of a config at its default input size, batch 1; with
    ``extra``: the whole model's FLOPs at each of the config's ``extra_shapes``."""
    import torch
    from mmvitplug.utils.named_models import build_target
    get_flops = _get_flops()
    torch.manual_seed(0)
    target = build_target(str(path.relative_to(REPO)))
    report = get_flops.config_report(target, None, 1)
    report['extra'] = {extra_field(shape): get_flops.config_report(target, shape, 1)['model'][
        'macs'] for shape in extra_shapes(path)}
    return report


def report_of(metadata: dict) -> dict:
    """The part of a get_flops report a metafile entry keeps (to rewrite an entry unmeasured)."""
    h, w = (int(v) for v in metadata['Input Size'].split('x'))
    return dict(input=[1, 3, h, w],
                model=dict(params=metadata['Parameters'], macs=metadata['FLOPs']),
                backbone=dict(params=metadata['Backbone Parameters'],
                              macs=metadata['Backbone FLOPs']),
                extra={k: v for k, v in metadata.items()
                       if k.startswith('FLOPs (') and isinstance(v, int)})


def _backbone_cfg(path: Path) -> dict:
    from mmengine.config import Config
    return Config.fromfile(str(path)).model.backbone


def converter_command(family: str, arch: str, out: str) -> Optional[str]:
    """The command that converts the authors' ImageNet weights of ``arch`` to ``out``."""
    entry = _released(family).get(arch)
    if entry is None:
        return None
    return f'python -m mmvitplug.converters {family} {entry[0]} {out}'


def released_url(family: str, arch: str) -> Optional[str]:
    entry = _released(family).get(arch)
    return entry[1] if entry else None


def _released(family: str) -> dict:
    """The backbone's table of the authors' checkpoints: arch -> (file name, where to get it)."""
    from mmvitplug.models import backbones
    return getattr(backbones, COLLECTIONS[family]['backbone']).released_checkpoints


def release_command(path: Path) -> Optional[str]:
    """The command that converts the authors' trained model of ``path``'s setting into
    ``checkpoints/<config name>.pth`` (None: they link no checkpoint)."""
    release = RELEASES.get(key_of(path))
    if release is None or release.checkpoint is None:
        return None
    family = Path(path).parent.name
    return (f'python -m mmvitplug.converters {family} {Path(release.checkpoint).name} '
            f'checkpoints/{Path(path).stem}.pth')


def model_entry(family: str, path: Path, report: dict) -> dict:
    """One ``Models`` entry of a metafile."""
    task = task_of(path)
    backbone = _backbone_cfg(path)
    arch = str(backbone.arch)
    _, _, h, w = report['input']
    rel = path.relative_to(REPO).as_posix()
    key = key_of(path)
    entry = {'Name': path.stem, 'In Collection': COLLECTIONS[family]['Name'], 'Config': rel}
    entry['Metadata'] = {
        'Training Data': task.data,
        'Input Size': f'{h}x{w}',
        'FLOPs': report['model']['macs'],
        'Parameters': report['model']['params'],
        'Backbone FLOPs': report['backbone']['macs'],
        'Backbone Parameters': report['backbone']['params'],
    }
    for shape in extra_shapes(path):
        entry['Metadata'][extra_field(shape)] = report['extra'][extra_field(shape)]
    entry['Metadata']['Architecture'] = [f'{COLLECTIONS[family]["Name"]} ({arch})'] + task.heads
    if key in AUTHORS_COSTS:
        costs = AUTHORS_COSTS[key]
        published = {'Parameters (M)': costs.params_m, 'FLOPs (G)': costs.gflops,
                     'Input Size': costs.input, 'Source': costs.source}
        entry['Metadata']["Authors' Costs"] = {k: v for k, v in published.items()
                                               if v is not None}
    if task.task == 'Image Classification':
        url = released_url(family, arch)
        if url:
            entry['Converted From'] = dict(Weights=url, Code=COLLECTIONS[family]['Code'])
    else:
        init = backbone.get('init_cfg') or {}
        checkpoint = init.get('checkpoint')
        url = released_url(family, arch)
        if checkpoint and url:
            pretrained = dict(Checkpoint=checkpoint, Weights=url)
            if '://' not in checkpoint:  # a URL is downloaded and converted on first use
                pretrained['Command'] = converter_command(family, arch, checkpoint)
            entry['Metadata']['Pretrained Backbone'] = pretrained
        release = RELEASES.get(key)
        if release is not None and release.checkpoint is not None:
            converted = dict(Weights=release.checkpoint, Code=COLLECTIONS[family]['Code'],
                             Log=release.log, Command=release_command(path))
            entry['Converted From'] = {k: v for k, v in converted.items() if v is not None}
    metrics, source = published_results(path)
    if metrics:
        results = {}
        for metric, value in metrics.items():
            results.setdefault(result_task(path, metric), {})[metric] = value
        entry['Results'] = [dict(Task=t, Dataset=task.dataset, Metrics=m, Source=source)
                            for t, m in results.items()]
    return entry


def metafile(family: str, reports: Dict[str, dict]) -> dict:
    c = COLLECTIONS[family]
    collection = dict(Name=c['Name'], Metadata=dict(Architecture=c['Architecture']),
                      Paper=c['Paper'], README=f'configs/{family}/README.md',
                      Code=dict(URL=c['Code']))
    models = [model_entry(family, p, reports[p.relative_to(REPO).as_posix()])
              for p in family_configs(family)]
    return dict(Collections=[collection], Models=models)


def dump_yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def model_index() -> str:
    return dump_yaml(dict(Import=[f'configs/{f}/metafile.yml' for f in FAMILIES]))


def _m(n: int) -> str:
    return f'{n / 1e6:.1f}'


def _g(n: int) -> str:
    return f'{n / 1e9:.1f}'


def _link(url: str, text: Optional[str] = None) -> str:
    if '://' not in url or ' ' in url:
        return url
    return f'[{text or Path(url).name}]({url})'


def _results(model: dict) -> Tuple[Dict[str, float], Optional[str]]:
    metrics, source = {}, None
    for result in model.get('Results', []):
        metrics.update(result['Metrics'])
        source = result['Source']
    return metrics, source


def _costs_table(rows: List[dict], task: Task) -> List[str]:
    """One task's table: our measured costs, the authors' published ones, the results."""
    extras = [k for k in rows[0]['Metadata'] if k.startswith('FLOPs (')]
    authors = any("Authors' Costs" in m['Metadata'] for m in rows)
    sources = {_results(m)[1] for m in rows} - {None}
    label = sources.pop() if len(sources) == 1 else 'paper' if not sources else 'published'
    header = ['config', 'backbone', 'input', 'params (M)', 'GFLOPs']
    header += [f'GFLOPs at {k[len("FLOPs ("):-1]}' for k in extras]
    header += ['backbone params (M)', 'backbone GFLOPs']
    if authors:
        header += ["authors' params (M)", "authors' GFLOPs (input)"]
    header += [f'{metric} ({label})' for metric in task.metrics]
    out = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for m in rows:
        md = m['Metadata']
        cells = [f'[{m["Name"]}]({Path(m["Config"]).name})', md['Architecture'][0],
                 md['Input Size'], _m(md['Parameters']), _g(md['FLOPs'])]
        cells += [_g(md[k]) for k in extras]
        cells += [_m(md['Backbone Parameters']), _g(md['Backbone FLOPs'])]
        if authors:
            costs = md.get("Authors' Costs")
            if costs:
                params = costs.get('Parameters (M)')
                cells += ['–' if params is None else f'{params:g}',
                          f'{costs["FLOPs (G)"]:g} ({costs["Input Size"]})']
            else:
                cells += ['–', '–']
        metrics, source = _results(m)
        for metric in task.metrics:
            value = metrics.get(metric)
            cells.append('not reported' if value is None else
                         f'{value} ({source})' if label == 'published' else str(value))
        out.append('| ' + ' | '.join(cells) + ' |')
    return out


def render_tables(family: str, meta: dict) -> str:
    """The README's generated part: one table per head architecture, then the authors' trained
    models and their ImageNet weights."""
    out = []
    for prefix, task in TASKS.items():
        rows = [m for m in meta['Models'] if prefix_of(REPO / m['Config']) == prefix]
        if not rows:
            continue
        title = task.task if not prefix else f'{task.heads[0]}: {task.task}'
        out += [f'### {title} ({task.dataset})', ''] + _costs_table(rows, task) + ['']
    releases = [(m, RELEASES[key_of(REPO / m['Config'])]) for m in meta['Models']
                if key_of(REPO / m['Config']) in RELEASES]
    if releases:
        linked = [m for m, _ in releases if 'Converted From' in m]
        note = ("Each checkpoint converts with the command of its row into "
                '`checkpoints/<config name>.pth`, which loads strictly into the config '
                '(`tools/test.py CONFIG checkpoints/<config name>.pth`).')
        if not linked:
            note = ("The authors' READMEs link a training log for each of these settings, no "
                    'trained checkpoint: there is nothing to convert.')
        elif len(linked) < len(releases):
            note += ' Where the authors link only a log, there is nothing to convert.'
        note = textwrap.fill(note, 96, break_long_words=False, break_on_hyphens=False)
        out += ["### The authors' trained models", '', note, '',
                "| config | authors' checkpoint | authors' log | convert with |",
                '|---|---|---|---|']
        for m, release in releases:
            converted = m.get('Converted From')
            checkpoint = _link(converted['Weights']) if converted else 'none linked'
            command = f'`{converted["Command"]}`' if converted else '–'
            out.append(f'| [{m["Name"]}]({Path(m["Config"]).name}) | {checkpoint} | '
                       f'{_link(release.log, "log") if release.log else "none linked"} | '
                       f'{command} |')
        out.append('')
    weights = {}
    for m in meta['Models']:
        arch = m['Metadata']['Architecture'][0]
        if task_of(REPO / m['Config']).task == 'Image Classification':
            if 'Converted From' in m:
                out_path = f'checkpoints/{weights_name(m["Name"])}.pth'
                weights[arch] = (m['Converted From']['Weights'], converter_command(
                    family, re.search(r'\((.*)\)', arch).group(1), out_path))
        elif m['Metadata'].get('Pretrained Backbone', {}).get('Command') and arch not in weights:
            pre = m['Metadata']['Pretrained Backbone']
            weights[arch] = (pre['Weights'], pre['Command'])
    out += ["### The authors' ImageNet weights", '',
            '| backbone | authors\' checkpoint | convert with |', '|---|---|---|']
    for arch, (url, command) in sorted(weights.items()):
        out.append(f'| {arch} | {_link(url)} | `{command}` |')
    out += [''] + licence_section(family)
    return '\n'.join(out) + '\n'


def licence_section(family: str) -> List[str]:
    """The page's licences, from ``mmvitplug.licences``: mmvitplug's code, and the authors' code
    and released weights (which files converted from them stay under)."""
    from mmvitplug.licences import FAMILY_LICENCES, PACKAGE_LICENCE
    licence = FAMILY_LICENCES[family]
    code = COLLECTIONS[family]['Code']
    terms = ('permissive: commercial use allowed' if licence.commercial_use else
             'non-commercial use only (research or evaluation)')
    return [
        '### Licences', '',
        '| what | licence | use |', '|---|---|---|',
        f'| mmvitplug: this re-implementation of {licence.family}, its configs and converters '
        f'| {PACKAGE_LICENCE} | permissive: commercial use allowed |',
        f"| the authors' {licence.family} code ({_link(code, code.split('github.com/')[-1])}) and "
        'released weights, and every checkpoint converted from those weights '
        f'| [{licence.name}]({licence.url}) | {terms} |',
        '', textwrap.fill("The authors' README states this one licence for their repository "
                          'and names no other for the weights it releases.', 96),
    ]


def write_readme(family: str, meta: dict) -> None:
    path = REPO / 'configs' / family / 'README.md'
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f'error: {path} has no generated-tables markers ({BEGIN!r})')
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(head + BEGIN + '\n' + render_tables(family, meta) + END + tail)


COSTS = ('FLOPs', 'Parameters', 'Backbone FLOPs', 'Backbone Parameters', 'Input Size')


def read_metafile(family: str) -> dict:
    return yaml.safe_load((REPO / 'configs' / family / 'metafile.yml').read_text())


def drift(configs: List[str], metafiles: Optional[Dict[str, dict]] = None) -> List[str]:
    """Re-measures the given configs (repo-relative paths) and returns one line per cost that
    differs from its entry in ``metafiles`` (family -> metafile; default: the files on disk).
    Empty when the metafiles are current."""
    problems = []
    for rel in configs:
        family = Path(rel).parent.name
        meta = (metafiles or {}).get(family) or read_metafile(family)
        listed = {m['Config']: m for m in meta['Models']}
        if rel not in listed:
            problems.append(f'{rel}: not in configs/{family}/metafile.yml')
            continue
        now = model_entry(family, REPO / rel, measure(REPO / rel))['Metadata']
        for key in COSTS + tuple(extra_field(s) for s in extra_shapes(REPO / rel)):
            if listed[rel]['Metadata'].get(key) != now[key]:
                problems.append(f'{rel}: {key} is {listed[rel]["Metadata"].get(key)} in the '
                                f'metafile, {now[key]} measured now')
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='*', metavar='CONFIG',
                        help='measure only these configs; the others keep the costs their '
                        'metafile lists (default: measure all)')
    parser.add_argument('--render', action='store_true',
                        help='measure nothing: rewrite the metafiles (published numbers, '
                        'weights) and README tables around the costs the metafiles list')
    parser.add_argument('--check', nargs='*', metavar='CONFIG',
                        help='re-measure these configs (default: all) against the metafiles')
    args = parser.parse_args(argv)
    if args.check is not None:
        configs = args.check or [p.relative_to(REPO).as_posix()
                                 for f in FAMILIES for p in family_configs(f)]
        problems = drift(configs)
        print('\n'.join(problems) or f'{len(configs)} configs: metafiles are current')
        return 1 if problems else 0
    if args.render and args.configs:
        parser.error('--render measures nothing: name no CONFIG')
    measured = {(REPO / c).resolve().relative_to(REPO).as_posix() for c in args.configs}
    reuse = args.render or bool(measured)
    for family in FAMILIES:
        meta_path = REPO / 'configs' / family / 'metafile.yml'
        reports = {}
        configs = family_configs(family)
        known = ({m['Config']: m['Metadata'] for m in read_metafile(family)['Models']}
                 if reuse else {})
        for i, path in enumerate(configs, 1):
            start = time.time()
            rel = path.relative_to(REPO).as_posix()
            if reuse and rel not in measured:
                missing = [k for k in ('Input Size',) + tuple(
                    extra_field(s) for s in extra_shapes(path)) if k not in known.get(rel, {})]
                if missing:
                    raise SystemExit(f'error: {rel}: no {missing[0]} in {meta_path.name}: '
                                     'measure it (name it, or run without CONFIG)')
                reports[rel] = report_of(known[rel])
                continue
            reports[rel] = measure(path)
            print(f'[{family} {i}/{len(configs)}] {rel}: {time.time() - start:.0f} s',
                  flush=True)
        meta = metafile(family, reports)
        meta_path.write_text(dump_yaml(meta))
        write_readme(family, meta)
        print(f'wrote {meta_path.relative_to(REPO)} and configs/{family}/README.md')
    (REPO / 'model-index.yml').write_text(model_index())
    return 0

if __name__ == '__main__':
    sys.exit(main())
