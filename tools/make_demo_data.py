#!/usr/bin/env python
"""Generate the built-in demo dataset: synthetic scenes of textured shapes on clutter.

One set of rendered scenes is written in three real formats, so the same data drives all three
OpenMMLab toolboxes:

``<out>/coco``  COCO instances (mmdet ``CocoDataset``)::

    annotations/instances_train.json  annotations/instances_val.json
    train/000000.jpg ...              val/000000.jpg ...

``<out>/ade``   ADE20K-style pairs (mmseg, ``reduce_zero_label=True``)::

    images/training/000000.jpg        annotations/training/000000.png
    images/validation/...             annotations/validation/...

    Label values: 0 = "other" (clutter; ignored, as ADE20K's 0), 1 = background, 2.. = shapes.

``<out>/cls``   an image folder per class (mmpretrain ``CustomDataset``): one crop per object::

    train/<class>/000000_00.png ...   val/<class>/...

Scenes: a smooth colour gradient with noise, clutter (lines, small blobs, speckles) and 2-6
objects of the classes below, each filled with a random colour modulated by a random texture
(stripes, checkers or noise), of varied size, possibly overlapping (later objects occlude earlier
ones; annotations describe the visible part). Each class has its own hue band (as real object
classes have typical appearances) and its shape; textures and clutter colours are random.

The output depends only on ``--seed`` and the counts (numpy's PCG64 generator; OpenCV draws and
encodes), so two runs write identical files.

Example::

    python tools/make_demo_data.py                   # data/demo, 400 train + 80 val scenes
    python tools/make_demo_data.py --out /tmp/demo --num-train 16 --num-val 4
"""
import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np

CLASSES = ('circle', 'triangle', 'rectangle', 'star')
SEG_CLASSES = ('background', ) + CLASSES
# Segmentation label values in the ADE-style PNGs (before reduce_zero_label).
LABEL_OTHER = 0
LABEL_BACKGROUND = 1
# Visible area below which an occluded object is dropped from the annotations (pixels).
MIN_VISIBLE_AREA = 64
CROP_SIZE = 64
# Hue (OpenCV scale, 0-180) around which each class's colours are drawn: red, blue, orange, green.
CLASS_HUES = (0, 110, 20, 60)


def _rand_color(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(20, 235, size=3)


def _class_color(rng: np.random.Generator, cls_idx: int) -> np.ndarray:
    hue = (CLASS_HUES[cls_idx] + rng.normal(0, 6)) % 180
    hsv = np.array([[[hue, rng.uniform(120, 255), rng.uniform(110, 255)]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A (size, size) float map in [0, 1]: stripes, checkers or smoothed noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(4, 12)
        phase = (xx * math.cos(angle) + yy * math.sin(angle)) * (2 * math.pi / period)
        return 0.5 + 0.5 * np.sin(phase)
    if kind == 1:
        cell = int(rng.integers(3, 9))
        return (((xx // cell) + (yy // cell)) % 2).astype(np.float32)
    noise = rng.random((size, size), dtype=np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 1.5) * 2.0 - 0.5


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c0, c1 = _rand_color(rng), _rand_color(rng)
    angle = rng.uniform(0, 2 * math.pi)
    t = np.clip(0.5 + (xx - 0.5) * math.cos(angle) + (yy - 0.5) * math.sin(angle), 0, 1)
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    img += rng.normal(0, 8, size=(size, size, 3))
    return img


def _shape_mask(rng: np.random.Generator, cls: str, size: int) -> np.ndarray:
    """Binary mask of one object of class ``cls``, random size, position and rotation."""
    mask = np.zeros((size, size), np.uint8)
    radius = rng.uniform(0.05, 0.2) * size
    cx, cy = rng.uniform(radius * 0.6, size - radius * 0.6, size=2)
    rot = rng.uniform(0, 2 * math.pi)
    if cls == 'circle':
        cv2.circle(mask, (int(round(cx)), int(round(cy))), int(round(radius)), 1, -1)
        return mask
    if cls == 'triangle':
        angles = rot + np.array([0, 2, 4]) * math.pi / 3 + rng.uniform(-0.3, 0.3, 3)
        radii = np.full(3, radius)
    elif cls == 'rectangle':
        aspect = rng.uniform(0.5, 1.0)
        half = np.array([[-1, -aspect], [1, -aspect], [1, aspect], [-1, aspect]]) * radius * 0.8
        c, s = math.cos(rot), math.sin(rot)
        pts = half @ np.array([[c, s], [-s, c]]) + [cx, cy]
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
        return mask
    elif cls == 'star':
        angles = rot + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, radius, radius * 0.45)
    else:
        raise ValueError(cls)
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask


def _clutter(rng: np.random.Generator, img: np.ndarray, other: np.ndarray) -> None:
    """Lines, small blobs and speckles; they are labelled "other" in the semantic maps."""
    size = img.shape[0]
    layer = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(3, 8))):
        p0 = tuple(int(v) for v in rng.integers(0, size, 2))
        p1 = tuple(int(v) for v in rng.integers(0, size, 2))
        layer[:] = 0
        cv2.line(layer, p0, p1, 1, int(rng.integers(1, 4)))
        _paint(rng, img, layer.astype(bool), texture=False)
        other |= layer.astype(bool)
    for _ in range(int(rng.integers(2, 6))):
        layer[:] = 0
        center = tuple(int(v) for v in rng.integers(0, size, 2))
        axes = tuple(int(v) for v in rng.integers(2, 7, 2))
        cv2.ellipse(layer, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        _paint(rng, img, layer.astype(bool), texture=False)
        other |= layer.astype(bool)


def _paint(rng: np.random.Generator, img: np.ndarray, mask: np.ndarray, texture: bool,
           color=None) -> None:
    color = _rand_color(rng) if color is None else color
    if texture:
        tex = _texture(rng, img.shape[0])[mask]
        strength = rng.uniform(0.2, 0.5)
        img[mask] = color[None] * (1 - strength + strength * tex[:, None])
    else:
        img[mask] = color[None]


def render_scene(rng: np.random.Generator, size: int) -> Tuple[np.ndarray, np.ndarray, List[dict]]:
    """Render one scene.

    Returns:
        (image uint8 HxWx3 BGR, semantic label map uint8 HxW, objects) where each object is
        ``dict(category=<index into CLASSES>, mask=<visible bool mask>)``.
    """
    img = _background(rng, size)
    semantic = np.full((size, size), LABEL_BACKGROUND, np.uint8)
    other = np.zeros((size, size), bool)
    _clutter(rng, img, other)
    semantic[other] = LABEL_OTHER

    objects: List[dict] = []
    occupied = np.zeros((size, size), bool)
    for _ in range(int(rng.integers(2, 7))):
        cls_idx = int(rng.integers(len(CLASSES)))
        for _attempt in range(10):
            mask = _shape_mask(rng, CLASSES[cls_idx], size).astype(bool)
            # Overlaps are allowed, but no object may hide more than half of another.
            if (mask & occupied).sum() <= 0.5 * min(mask.sum(), max(occupied.sum(), 1)):
                break
        _paint(rng, img, mask, texture=True, color=_class_color(rng, cls_idx))
        for obj in objects:
            obj['mask'] &= ~mask
        occupied |= mask
        semantic[mask] = LABEL_BACKGROUND + 1 + cls_idx
        objects.append(dict(category=cls_idx, mask=mask))

    image = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    objects = [o for o in objects if o['mask'].sum() >= MIN_VISIBLE_AREA]
    return image, semantic, objects


def _coco_annotation(mask: np.ndarray) -> Dict:
    """bbox (xywh), polygons and area of a visible mask, in COCO conventions."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polygons = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    return dict(
        segmentation=polygons,
        area=float(mask.sum()),
        bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
        iscrowd=0)


def _write_image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix == '.jpg' else []
    if not cv2.imwrite(str(path), image, params):
        raise OSError(f'could not write {path}')


def _crop(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    margin = max(x1 - x0, y1 - y0) // 4 + 2
    h, w = mask.shape
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(w, x1 + margin), min(h, y1 + margin)
    return cv2.resize(image[y0:y1, x0:x1], (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)


def make_split(out: Path, split: str, num: int, size: int, rng: np.random.Generator) -> dict:
    coco_dir, ade_dir, cls_dir = 'train' if split == 'train' else 'val', \
        'training' if split == 'train' else 'validation', 'train' if split == 'train' else 'val'
    images, annotations = [], []
    for idx in range(num):
        image, semantic, objects = render_scene(rng, size)
        name = f'{idx:06d}'
        _write_image(out / 'coco' / coco_dir / f'{name}.jpg', image)
        _write_image(out / 'ade' / 'images' / ade_dir / f'{name}.jpg', image)
        _write_image(out / 'ade' / 'annotations' / ade_dir / f'{name}.png', semantic)
        images.append(dict(id=idx, file_name=f'{name}.jpg', height=size, width=size))
        for k, obj in enumerate(objects):
            ann = _coco_annotation(obj['mask'])
            ann.update(id=len(annotations) + 1, image_id=idx, category_id=obj['category'] + 1)
            annotations.append(ann)
            _write_image(out / 'cls' / cls_dir / CLASSES[obj['category']] / f'{name}_{k:02d}.png',
                         _crop(image, obj['mask']))
        if (idx + 1) % 100 == 0 or idx + 1 == num:
            print(f'  {split}: {idx + 1}/{num} scenes', flush=True)
    coco = dict(
        info=dict(description='mmvitplug synthetic demo dataset', version='1.0'),
        images=images,
        annotations=annotations,
        categories=[dict(id=i + 1, name=n, supercategory='shape') for i, n in enumerate(CLASSES)])
    ann_path = out / 'coco' / 'annotations' / f'instances_{coco_dir}.json'
    ann_path.parent.mkdir(parents=True, exist_ok=True)
    ann_path.write_text(json.dumps(coco))
    return dict(images=len(images), objects=len(annotations))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/demo', help='output folder (default: data/demo)')
    parser.add_argument('--num-train', type=int, default=400, help='training scenes')
    parser.add_argument('--num-val', type=int, default=80, help='validation scenes')
    parser.add_argument('--size', type=int, default=256, help='scene side length in pixels')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.num_train < 1 or args.num_val < 1:
        parser.error('--num-train and --num-val must be >= 1')
    if args.size < 64:
        parser.error('--size must be >= 64')

    out = Path(args.out)
    start = time.time()
    for sub in ('coco', 'ade', 'cls'):  # stale files of an earlier run must not leak in
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    print(f'writing the demo dataset to {out} (seed {args.seed})', flush=True)
    # One independent stream per split, so the val split does not change with --num-train.
    train_rng, val_rng = (np.random.Generator(np.random.PCG64(s))
                          for s in np.random.SeedSequence(args.seed).spawn(2))
    stats = {
        'train': make_split(out, 'train', args.num_train, args.size, train_rng),
        'val': make_split(out, 'val', args.num_val, args.size, val_rng),
    }
    for split, s in stats.items():
        print(f'{split}: {s["images"]} scenes, {s["objects"]} objects')
    print(f'done in {time.time() - start:.1f}s: {out}/coco (COCO instances), {out}/ade '
          f'(ADE20K-style), {out}/cls (image folders)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
