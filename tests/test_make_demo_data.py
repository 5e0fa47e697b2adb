"""The demo dataset generator: deterministic, and valid COCO / ADE20K / image-folder data."""
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import run_python

CLASSES = ('circle', 'triangle', 'rectangle', 'star')


def _digest(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob('*')) if p.is_file()
    }


def test_deterministic(tmp_path):
    args = ['tools/make_demo_data.py', '--num-train', '5', '--num-val', '2', '--size', '96']
    run_python(args + ['--out', str(tmp_path / 'a')], check=True)
    run_python(args + ['--out', str(tmp_path / 'b')], check=True)
    run_python(args + ['--out', str(tmp_path / 'c'), '--seed', '7'], check=True)
    a, b, c = (_digest(tmp_path / n) for n in 'abc')
    assert a == b
    assert len(a) > 20
    assert a != c


def test_rerun_replaces_stale_files(tmp_path):
    run_python(['tools/make_demo_data.py', '--out', str(tmp_path), '--num-train', '6',
                '--num-val', '2', '--size', '96'], check=True)
    run_python(['tools/make_demo_data.py', '--out', str(tmp_path), '--num-train', '2',
                '--num-val', '2', '--size', '96'], check=True)
    assert len(list((tmp_path / 'coco' / 'train').glob('*.jpg'))) == 2
    assert len(list((tmp_path / 'ade' / 'annotations' / 'training').glob('*.png'))) == 2


def test_bad_arguments_are_refused(tmp_path):
    proc = run_python(['tools/make_demo_data.py', '--out', str(tmp_path), '--num-train', '0'])
    assert proc.returncode == 2
    assert '--num-train' in proc.stderr


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_annotations_are_valid(demo_data, split):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    coco = COCO(str(demo_data / 'coco' / 'annotations' / f'instances_{split}.json'))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
    assert len(coco.getImgIds()) == (12 if split == 'train' else 4)
    assert len(coco.getAnnIds()) >= 2 * len(coco.getImgIds())
    ann_ids = set()
    for img in coco.loadImgs(coco.getImgIds()):
        image = cv2.imread(str(demo_data / 'coco' / split / img['file_name']))
        assert image.shape == (img['height'], img['width'], 3)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img['id'])):
            ann_ids.add(ann['id'])
            x, y, w, h = ann['bbox']
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= img['width'] and y + h <= img['height']
            assert ann['iscrowd'] == 0 and ann['category_id'] in coco.getCatIds()
            assert all(len(p) >= 6 and len(p) % 2 == 0 for p in ann['segmentation'])
            # The polygons describe the visible mask: same area (up to contour rounding)
            # and the same box.
            rle = mask_utils.merge(
                mask_utils.frPyObjects(ann['segmentation'], img['height'], img['width']))
            decoded = mask_utils.decode(rle)
            assert abs(decoded.sum() - ann['area']) <= 0.2 * ann['area'] + 20
            ys, xs = np.nonzero(decoded)
            assert abs(xs.min() - x) <= 1 and abs(ys.min() - y) <= 1
    assert len(ann_ids) == len(coco.getAnnIds())  # ids unique


def test_ade_pairs_match_the_instances(demo_data):
    coco = json.loads((demo_data / 'coco' / 'annotations' / 'instances_val.json').read_text())
    for img in coco['images']:
        stem = Path(img['file_name']).stem
        image = cv2.imread(str(demo_data / 'ade' / 'images' / 'validation' / f'{stem}.jpg'))
        label = cv2.imread(str(demo_data / 'ade' / 'annotations' / 'validation' / f'{stem}.png'),
                           cv2.IMREAD_UNCHANGED)
        assert label.dtype == np.uint8 and label.shape == image.shape[:2]
        assert set(np.unique(label)) <= set(range(len(CLASSES) + 2))
        assert 1 in label  # background
        # Every annotated instance shows up in the semantic map with its class (value id + 1).
        for ann in (a for a in coco['annotations'] if a['image_id'] == img['id']):
            x, y, w, h = map(int, ann['bbox'])
            assert (label[y:y + h, x:x + w] == ann['category_id'] + 1).sum() >= 0.5 * ann['area']


def test_image_folders(demo_data):
    coco = json.loads((demo_data / 'coco' / 'annotations' / 'instances_train.json').read_text())
    folders = sorted(p.name for p in (demo_data / 'cls' / 'train').iterdir())
    assert set(folders) <= set(CLASSES)
    crops = list((demo_data / 'cls' / 'train').rglob('*.png'))
    assert len(crops) == len(coco['annotations'])
    assert cv2.imread(str(crops[0])).shape == (64, 64, 3)


def test_toolbox_datasets_load_it(demo_data, monkeypatch):
    """The demo configs' datasets read the generated files with mmdet, mmseg and mmpretrain."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    monkeypatch.setenv('MMVITPLUG_DEMO_DATA', str(demo_data))
    repo = Path(__file__).resolve().parents[1]

    init_default_scope('mmdet')
    from mmdet.registry import DATASETS as DET
    cfg = Config.fromfile(repo / 'configs/demo/cascade_mask_rcnn_demo.py')
    det = DET.build(cfg.train_dataloader.dataset)
    sample = det[0]
    assert len(det) == 12
    assert sample['data_samples'].gt_instances.masks.masks.shape[0] == \
        len(sample['data_samples'].gt_instances.labels) > 0

    init_default_scope('mmseg')
    from mmseg.registry import DATASETS as SEG
    cfg = Config.fromfile(repo / 'configs/demo/upernet_demo.py')
    seg = SEG.build(cfg.val_dataloader.dataset)
    labels = set(np.unique(seg[0]['data_samples'].gt_sem_seg.data.numpy()))
    assert len(seg) == 4 and labels <= set(range(len(CLASSES) + 1)) | {255} and 0 in labels

    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS as CLS
    cfg = Config.fromfile(repo / 'configs/demo/litv2_cls_demo.py')
    cls = CLS.build(cfg.train_dataloader.dataset)
    assert set(cls.CLASSES) <= set(CLASSES) and len(cls) > 12
