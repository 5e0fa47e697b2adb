#!/usr/bin/env python
"""Draw where one query point looks in each attention stage, over the input image (PNG).

    python tools/visualize_attention.py BiFormer-T data/demo/coco/val/000000.jpg --out vis/
    python tools/visualize_attention.py configs/demo/upernet_demo.py IMAGE \
        --checkpoint work_dirs/demo/seg_fastervit/iter_1200.pth --query 120 200 --out vis/

CONFIG_OR_NAME is a det / seg / classification config (its backbone is drawn) or one of
FasterViT-0, BiFormer-T, LITv2-S. ``--checkpoint`` takes a training checkpoint of that config,
a file written by our converters, or the authors' release (converted on the fly); without it
the weights are random. The image is used at its own size (``--resize H W`` to change it) and
normalised as the config's data preprocessor does (ImageNet mean/std for a name).

Per family, one PNG per attention stage (block ``--block``, the last by default; weights are
the mean over heads, or head ``--head``):

* BiFormer (BRA, stages 1-3): the region grid, the query's region and the ``topk`` regions it
  routes to (numbered by routing score), and the query token's attention inside them;
* FasterViT (HAT, stages with carrier tokens): the query's window, its attention over the
  window's tokens and over the window's carrier tokens (drawn on the sub-squares they stand
  for), and that carrier's global attention over all carriers;
* LITv2 (HiLo, stages 3-4): the Hi-Fi heads' attention inside the query's local window and the
  Lo-Fi heads' attention over the average-pooled map, side by side.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from mmvitplug.models.layers.geometry import ceil_div

IMAGENET_MEAN, IMAGENET_STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
NAMES = ('FasterViT-0', 'BiFormer-T', 'LITv2-S')
QUERY_COLOUR, ROUTE_COLOUR = 'lime', 'red'


def load_backbone(target: str, checkpoint: Optional[str]):
    """The backbone of a config or name, with ``checkpoint``'s weights, and the function that
    turns an (H, W, 3) RGB image into its input: normalised as the config's data preprocessor
    does (ImageNet mean/std for a name), channels flipped for a model that reads BGR."""
    from mmvitplug.utils.named_models import build_target
    if not osp.isfile(target) and target not in NAMES:
        raise ValueError(f'{target} is neither a config file nor one of {", ".join(NAMES)}')
    built = build_target(target)
    backbone = getattr(built.model, 'backbone', built.model)
    mean, std, bgr = IMAGENET_MEAN, IMAGENET_STD, False
    if built.cfg is not None:
        preprocessor = built.cfg.model.get('data_preprocessor') or {}
        mean, std = preprocessor.get('mean', mean), preprocessor.get('std', std)
        # mmdet / mmseg say bgr_to_rgb, mmpretrain to_rgb; without either the model reads the
        # BGR images its pipeline loads.
        bgr = not preprocessor.get('bgr_to_rgb', preprocessor.get('to_rgb', False))
    if checkpoint:
        from mmvitplug.models.backbones.pretrained import load_pretrained
        load_pretrained(backbone, dict(type='Pretrained', checkpoint=checkpoint,
                                       prefix='backbone.'))
    return backbone.eval(), make_preprocess(mean, std, bgr)


def make_preprocess(mean=IMAGENET_MEAN, std=IMAGENET_STD, bgr: bool = False):
    """(H, W, 3) uint8 RGB image -> (1, 3, H, W) normalised input (channels flipped first for
    a model reading BGR)."""
    def preprocess(image: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.array(image[..., ::-1] if bgr else image))  # a writable copy
        x = x.permute(2, 0, 1).float()
        return ((x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1))[None]

    return preprocess


def read_image(path: str, resize: Optional[Sequence[int]] = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    from PIL import Image
    image = Image.open(path).convert('RGB')
    if resize:
        image = image.resize((int(resize[1]), int(resize[0])), Image.BILINEAR)
    return np.asarray(image)


# ---------------------------------------------------------------------------------- drawing
def _canvas(image: np.ndarray, tokens: Tuple[int, int], stride: int) -> np.ndarray:
    """An all-NaN heat map, image-aligned, covering the image and ``tokens`` (h, w) tokens of
    ``stride`` pixels (maps padded past the image)."""
    return np.full((max(image.shape[0], tokens[0] * stride),
                    max(image.shape[1], tokens[1] * stride)), np.nan, dtype=np.float32)


def _paint(canvas: np.ndarray, weights: torch.Tensor, top: int, left: int, cell: float) -> None:
    """Write (h, w) ``weights`` as cells of ``cell`` pixels with the top-left cell at pixel
    (top, left)."""
    weights = weights.cpu().numpy()
    for i in range(weights.shape[0]):
        for j in range(weights.shape[1]):
            y0, x0 = int(round(top + i * cell)), int(round(left + j * cell))
            y1, x1 = int(round(top + (i + 1) * cell)), int(round(left + (j + 1) * cell))
            canvas[y0:y1, x0:x1] = weights[i, j]


def _show(ax, image: np.ndarray, heat: Optional[np.ndarray] = None, title: str = '') -> None:
    h, w = image.shape[:2]
    ax.imshow(image if heat is None else (image * 0.45).astype(np.uint8))
    if heat is not None:
        heat = heat[:h, :w]
        peak = np.nanmax(heat) if np.isfinite(heat).any() else 1.0
        ax.imshow(np.ma.masked_invalid(heat), cmap='inferno', alpha=0.75, vmin=0,
                  vmax=peak or 1.0, interpolation='nearest')
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_title(title, fontsize=9)
    ax.axis('off')


def _box(ax, top, left, height, width, colour, fill=False, lw=2.0, alpha=1.0):
    from matplotlib.patches import Rectangle
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=fill, alpha=alpha,
                           edgecolor=colour, facecolor=colour if fill else 'none', lw=lw))


def _mark(ax, query_px):
    ax.plot([query_px[1]], [query_px[0]], marker='+', color=QUERY_COLOUR, ms=12, mew=2)


def draw_routing(fig, image, record, query_px, head) -> List[Tuple[int, int]]:
    """BRA: routed regions and the token attention inside them. Returns the (row, column)
    of each routed region, in routing order, as drawn."""
    from mmvitplug.utils.attention_maps import head_mean
    m, s = record.maps, record.stride
    (ny, nx), (rh, rw) = m.grid, m.region
    qy, qx = ceil_div(record.map_size[0], rh), ceil_div(record.map_size[1], rw)
    routed = [divmod(int(r), nx) for r in m.index[0, m.query_region]]
    attention = head_mean(m.attention[0], head)  # (topk, rh, rw)
    qr, qc = divmod(m.query_region, qx)
    left, right = fig.subplots(1, 2)
    _show(left, image, title=f'top-{len(routed)} of {ny * nx} regions '
                             f'({ny}x{nx}, {rh}x{rw} tokens each)')
    for r in range(1, ny):
        left.axhline(r * rh * s - 0.5, color='white', lw=0.5, alpha=0.6)
    for c in range(1, nx):
        left.axvline(c * rw * s - 0.5, color='white', lw=0.5, alpha=0.6)
    heat = _canvas(image, (ny * rh, nx * rw), s)
    for rank, ((r, c), weights) in enumerate(zip(routed, attention), 1):
        _box(left, r * rh * s, c * rw * s, rh * s, rw * s, ROUTE_COLOUR, fill=True, alpha=0.35)
        left.text((c + 0.5) * rw * s, (r + 0.5) * rh * s, str(rank), color='white',
                  ha='center', va='center', fontsize=8, weight='bold')
        _paint(heat, weights, r * rh * s, c * rw * s, s)
    _box(left, qr * rh * s, qc * rw * s, rh * s, rw * s, QUERY_COLOUR, lw=2.5)
    _mark(left, query_px)
    outside = sum(float(w.sum()) for (r, c), w in zip(routed, attention) if r >= qy or c >= qx)
    note = f', {outside:.0%} on padding' if outside > 0.005 else ''
    _show(right, image, heat, f'token attention in the routed regions{note}')
    _mark(right, query_px)
    fig.suptitle(f'BiFormer stage {record.stage + 1}, block {record.block}: bi-level routing '
                 f'of query token {record.query}', fontsize=10)
    return routed


def _carrier_centres(size: Tuple[int, int], window_size: int, ct_size: int,
                     stride: int) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel centres (rows, columns) of the carrier grid's pooling windows on an h x w map
    (each carrier averages a kernel x kernel patch of the unpadded map,
    :func:`~mmvitplug.models.layers.carrier_pooling`)."""
    from mmvitplug.models.layers import carrier_pooling
    centres = []
    for side in size:
        kernel, step = carrier_pooling(side, window_size, ct_size)
        count = ceil_div(side, window_size) * ct_size
        centres.append((np.arange(count) * step + kernel / 2) * stride - 0.5)
    return centres[0], centres[1]


def _carriers(ax, rows: np.ndarray, cols: np.ndarray, weights: torch.Tensor, peak: float):
    """Carriers as discs at their pooling centres, colour and area by attention weight."""
    ys, xs = np.meshgrid(rows, cols, indexing='ij')
    w = weights.cpu().numpy()
    ax.scatter(xs.ravel(), ys.ravel(), c=w.ravel(), cmap='inferno', vmin=0, vmax=peak or 1.0,
               s=20 + 380 * w.ravel() / (peak or 1.0), edgecolors='white', linewidths=0.6)


def draw_hierarchical(fig, image, record, query_px, head) -> None:
    """HAT: the query's attention over its window's tokens and carriers, and the carrier's
    global attention over all carriers (carriers drawn at the centre of the patch each one
    pools)."""
    from mmvitplug.utils.attention_maps import head_mean
    m, s = record.maps, record.stride
    top, left_tok, ws = m.window
    ct = m.window_carriers.shape[-1]
    tokens, carriers = head_mean(m.window_tokens, head), head_mean(m.window_carriers, head)
    grid = head_mean(m.carriers, head)  # (Hc, Wc)
    rows, cols = _carrier_centres(record.map_size, ws, ct, s)
    share = float(carriers.sum())
    axes = fig.subplots(1, 3)
    heat = _canvas(image, (top + ws, left_tok + ws), s)
    _paint(heat, tokens, top * s, left_tok * s, s)
    _show(axes[0], image, heat, f'window tokens ({ws}x{ws}): {1 - share:.0%} of the attention')
    _show(axes[1], image, None, f"the window's {ct}x{ct} carrier tokens: {share:.0%}")
    r0, c0 = top // ws * ct, left_tok // ws * ct
    _carriers(axes[1], rows[r0:r0 + ct], cols[c0:c0 + ct], carriers, float(carriers.max()))
    for i in range(ct):
        for j in range(ct):
            axes[1].annotate(f'{float(carriers[i, j]):.0%}', (cols[c0 + j], rows[r0 + i]),
                             xytext=(8, 8), textcoords='offset points', color='white',
                             fontsize=8, weight='bold')
    for ax in axes[:2]:
        _box(ax, top * s, left_tok * s, ws * s, ws * s, QUERY_COLOUR)
        _mark(ax, query_px)
    _show(axes[2], image, None, f'carrier {m.query_carrier} over all {grid.shape[0]}x'
                                f'{grid.shape[1]} carriers (global)')
    _carriers(axes[2], rows, cols, grid, float(grid.max()))
    axes[2].plot([cols[m.query_carrier[1]]], [rows[m.query_carrier[0]]], marker='s', ms=14,
                 mfc='none', mec=QUERY_COLOUR, mew=2)
    fig.suptitle(f'FasterViT stage {record.stage + 1}, block {record.block}: hierarchical '
                 f'attention of query token {record.query}', fontsize=10)


def draw_hilo(fig, image, record, query_px, head) -> None:
    """HiLo: Hi-Fi window attention and Lo-Fi pooled attention, side by side."""
    from mmvitplug.utils.attention_maps import head_mean
    m, s = record.maps, record.stride
    top, left_tok, ws = m.window
    panels = [p for p in (m.hifi, m.lofi) if p is not None]
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    ax = iter(axes)
    if m.hifi is not None:
        a = next(ax)
        hifi = head_mean(m.hifi[0], head)
        heat = _canvas(image, (top + ws, left_tok + ws), s)
        _paint(heat, hifi, top * s, left_tok * s, s)
        _show(a, image, heat, f'Hi-Fi: {m.hifi.shape[1]} heads, {ws}x{ws} window (zoomed)')
        for i in range(ws):
            for j in range(ws):
                a.text((left_tok + j + 0.5) * s, (top + i + 0.5) * s, f'{float(hifi[i, j]):.0%}',
                       color='white', ha='center', va='center', fontsize=8, weight='bold')
        _box(a, top * s, left_tok * s, ws * s, ws * s, QUERY_COLOUR, lw=1.5)
        _mark(a, query_px)
        # The window is a few tokens wide: zoom to its neighbourhood.
        pad = 2 * ws * s
        h, w = image.shape[:2]
        a.set_xlim(max(-0.5, left_tok * s - pad), min(w - 0.5, (left_tok + ws) * s + pad))
        a.set_ylim(min(h - 0.5, (top + ws) * s + pad), max(-0.5, top * s - pad))
    a = next(ax)
    lofi = head_mean(m.lofi[0], head)
    heat = _canvas(image, (lofi.shape[0] * ws, lofi.shape[1] * ws), s)
    _paint(heat, lofi, 0, 0, ws * s)
    pooled = f'{ws}x{ws}-pooled' if ws > 1 else 'unpooled (global attention)'
    _show(a, image, heat, f'Lo-Fi: {m.lofi.shape[1]} heads over the {pooled} map '
                          f'({lofi.shape[0]}x{lofi.shape[1]} keys)')
    _mark(a, query_px)
    fig.suptitle(f'LITv2 stage {record.stage + 1}, block {record.block}: HiLo attention of '
                 f'query token {record.query}', fontsize=10)


DRAW = {'routing': draw_routing, 'hierarchical': draw_hierarchical, 'hilo': draw_hilo}


def visualize(backbone, image: np.ndarray, preprocess, out_dir: str,
              query_px: Optional[Tuple[int, int]] = None, block: int = -1,
              head: Optional[int] = None) -> List[Tuple[str, object]]:
    """Draw every attention stage of ``backbone`` for ``image`` (H, W, 3 RGB, turned into the
    input by ``preprocess``); returns (PNG path, what the drawing function returned) per
    stage."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from mmvitplug.utils.attention_maps import attention_maps
    if query_px is None:
        query_px = (image.shape[0] // 2, image.shape[1] // 2)
    records = attention_maps(backbone, preprocess(image), query_px, block)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for record in records:
        panels = 3 if record.kind == 'hierarchical' else 2
        aspect = image.shape[0] / image.shape[1]
        fig = plt.figure(figsize=(4.2 * panels, 4.2 * aspect + 0.9), dpi=110)
        drawn = DRAW[record.kind](fig, image, record, query_px, head)
        fig.tight_layout()
        path = osp.join(out_dir, f'{record.family.lower()}_stage{record.stage + 1}_'
                                 f'block{record.block}_{record.kind}.png')
        fig.savefig(path)
        plt.close(fig)
        written.append((path, drawn))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('target', metavar='CONFIG_OR_NAME')
    parser.add_argument('image', metavar='IMAGE')
    parser.add_argument('--checkpoint', help='weights (training checkpoint, converted or '
                                             "authors' file); random without")
    parser.add_argument('--query', nargs=2, type=int, metavar=('Y', 'X'),
                        help='query pixel (row, column); default the image centre')
    parser.add_argument('--block', type=int, default=-1,
                        help='block within each stage (default -1, the last)')
    parser.add_argument('--head', type=int, help='draw one head (default: mean over heads)')
    parser.add_argument('--resize', nargs=2, type=int, metavar=('H', 'W'))
    parser.add_argument('--out', required=True, metavar='DIR')
    args = parser.parse_args(argv)
    for path in [args.image] + ([args.checkpoint] if args.checkpoint else []):
        if not osp.isfile(path):
            print(f'error: file not found: {path}', file=sys.stderr)
            return 2
    from mmvitplug.utils.checkpoint import CheckpointError
    try:
        backbone, preprocess = load_backbone(args.target, args.checkpoint)
        image = read_image(args.image, args.resize)
        written = visualize(backbone, image, preprocess, args.out,
                            tuple(args.query) if args.query else None, args.block, args.head)
    except (ValueError, CheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    for path, _ in written:
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
