"""The toolboxes' inference APIs on our configs and on trained demo checkpoints, and the plugin
used from an existing mm project through ``custom_imports`` alone."""
import json
import textwrap

import numpy as np
import pytest
import torch

from conftest import REPO, SHORT_DEMO_RUNS, run_python

DET_CLASSES = ('circle', 'triangle', 'rectangle', 'star')


@pytest.fixture(scope='module')
def demo_checkpoints(demo_data, tmp_path_factory):
    """A briefly trained checkpoint of each demo config (task -> (config, checkpoint)), with
    mmengine's types allowed to torch's safe loading meanwhile: the inference APIs load these
    runner checkpoints with mmengine's loader, so a program calling them opts in (importing
    mmvitplug does not)."""
    from mmvitplug.utils import runner_checkpoints_allowed
    out = {}
    for task, (config, shrink) in SHORT_DEMO_RUNS.items():
        work = tmp_path_factory.mktemp(f'{task}_work')
        run_python(['tools/train.py', config, '--work-dir', str(work), '--cfg-options', *shrink,
                    'train_dataloader.batch_size=2'],
                   env={'MMVITPLUG_DEMO_DATA': str(demo_data)}, check=True)
        out[task] = (str(REPO / config), (work / 'last_checkpoint').read_text().strip())
    with runner_checkpoints_allowed():
        yield out


@pytest.fixture(scope='module')
def image(demo_data):
    return str(demo_data / 'coco' / 'val' / '000000.jpg')


@pytest.mark.slow
def test_checkpoints_carry_the_dataset_meta(demo_checkpoints):
    for task, (_, ckpt) in demo_checkpoints.items():
        meta = torch.load(ckpt, map_location='cpu', weights_only=True)['meta']
        classes = meta['dataset_meta']['classes']
        assert len(classes) >= 4, (task, classes)
        assert {'circle', 'star'} <= set(classes), (task, classes)


@pytest.mark.slow
def test_mmdet_init_detector_and_inference_detector(demo_checkpoints, image):
    from mmdet.apis import inference_detector, init_detector
    config, ckpt = demo_checkpoints['det']
    model = init_detector(config, ckpt, device='cpu')
    assert type(model.backbone).__name__ == 'FasterViT'
    assert tuple(model.dataset_meta['classes']) == DET_CLASSES
    result = inference_detector(model, image)
    pred = result.pred_instances
    assert pred.bboxes.shape[1] == 4 and len(pred.scores) == len(pred.labels)
    assert pred.masks.shape[1:] == tuple(result.ori_shape)


@pytest.mark.slow
def test_trained_demo_detector_exports_whole_and_matches_mmdet(demo_checkpoints, tmp_path):
    """The deployment road of the headline model: tools/deployment/pytorch2onnx.py exports the
    trained demo Cascade Mask R-CNN whole (standard ONNX operators) and checks, in onnxruntime at
    two sizes not used at export, that its detections are mmdet's: same count and labels, boxes
    within 1e-3 of the image side, scores within 1e-4, the same binary masks."""
    config, ckpt = demo_checkpoints['det']
    out = tmp_path / 'demo_detector.onnx'
    proc = run_python(['tools/deployment/pytorch2onnx.py', config, '--checkpoint', ckpt,
                       '--out', str(out), '--shape', '128', '160', '--dynamic'], check=True)
    assert 'ok: the same detections as mmdet' in proc.stdout, proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()[:3] in ('320', '333')]
    assert len(rows) == 2 and all(int(r[1]) > 0 for r in rows), proc.stdout


@pytest.mark.slow
def test_mmdet_det_inferencer(demo_checkpoints, image, tmp_path):
    from mmdet.apis import DetInferencer
    config, ckpt = demo_checkpoints['det']
    inferencer = DetInferencer(model=config, weights=ckpt, device='cpu', show_progress=False)
    out = inferencer(image, out_dir=str(tmp_path), no_save_vis=False, pred_score_thr=0.0)
    pred = out['predictions'][0]
    assert set(pred) >= {'labels', 'scores', 'bboxes', 'masks'}
    assert all(0 <= label < 4 for label in pred['labels'])
    assert list((tmp_path / 'vis').glob('*.jpg'))


@pytest.mark.slow
def test_mmseg_init_model_and_inference_model(demo_checkpoints, image):
    from mmseg.apis import inference_model, init_model
    config, ckpt = demo_checkpoints['seg']
    model = init_model(config, ckpt, device='cpu')
    assert type(model.backbone).__name__ == 'FasterViT'
    assert 'circle' in model.dataset_meta['classes']
    result = inference_model(model, image)
    assert tuple(result.pred_sem_seg.data.shape[1:]) == tuple(result.ori_shape)


@pytest.mark.slow
def test_mmpretrain_image_classification_inferencer(demo_checkpoints, demo_data):
    from mmengine.registry import init_default_scope
    from mmpretrain.apis import ImageClassificationInferencer
    config, ckpt = demo_checkpoints['cls']
    # mmpretrain's inferencer builds its pipeline in the current scope, which the mmdet/mmseg
    # tests of this process have set (a user's process runs one toolbox).
    init_default_scope('mmpretrain')
    inferencer = ImageClassificationInferencer(model=config, pretrained=ckpt, device='cpu')
    crop = next((demo_data / 'cls' / 'val' / 'star').iterdir())
    pred = inferencer(str(crop))[0]
    assert pred['pred_class'] in ('circle', 'triangle', 'rectangle', 'star')
    assert len(pred['pred_scores']) == 4 and abs(sum(pred['pred_scores']) - 1) < 1e-4


@pytest.mark.slow
def test_mmseg_inference_on_a_full_config_at_a_test_size_not_multiple_of_32():
    """The ADE20K config's test pipeline resizes to a short side of 512 (e.g. 512x683)."""
    from mmseg.apis import inference_model, init_model
    model = init_model(str(REPO / 'configs/biformer/upernet_ade20k.py'), None, device='cpu')
    img = (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)
    result = inference_model(model, img)
    assert tuple(result.pred_sem_seg.data.shape[1:]) == (480, 640)
    assert tuple(result.img_shape) == (512, 683)
    assert int(result.pred_sem_seg.data.max()) < 150


# The papers' own recipes (configs/<family>/mask-rcnn_*, retinanet_*, fpn_*).
PAPER_RECIPES = sorted(p.relative_to(REPO).as_posix() for family in ('biformer', 'litv2')
                       for p in (REPO / 'configs' / family).glob('*.py')
                       if p.name.startswith(('mask-rcnn_', 'retinanet_', 'fpn_')))


@pytest.mark.parametrize('path', PAPER_RECIPES)
def test_the_papers_recipes_serve_the_inference_apis(path):
    """init_detector / inference_detector or init_model / inference_model on each recipe the
    authors released (untrained weights; the test pipeline resizes to a small scale so that a
    CPU serves it in a second)."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(REPO / path))
    # mmdet's API reads the test dataloader's pipeline, mmseg's the top-level test_pipeline.
    for step in cfg.test_dataloader.dataset.pipeline + cfg.get('test_pipeline', []):
        if step.type == 'Resize':
            step.scale = (160, 120)
    img = (np.random.default_rng(0).random((90, 140, 3)) * 255).astype(np.uint8)
    torch.manual_seed(0)
    if cfg.default_scope == 'mmdet':
        from mmdet.apis import inference_detector, init_detector
        model = init_detector(cfg, None, device='cpu')
        pred = inference_detector(model, img).pred_instances
        assert pred.bboxes.shape[1] == 4 and len(pred.scores) == len(pred.labels)
        if 'mask-rcnn' in path:
            assert tuple(pred.masks.shape[1:]) == img.shape[:2]
    else:
        from mmseg.apis import inference_model, init_model
        model = init_model(cfg, None, device='cpu')
        result = inference_model(model, img)
        assert max(result.img_shape) <= 160
        assert tuple(result.pred_sem_seg.data.shape[1:]) == img.shape[:2]
        assert int(result.pred_sem_seg.data.max()) < 150


# An existing mm project: its own config, inheriting the toolbox's base configs, with our
# backbone swapped in and the plugin loaded only through custom_imports; trained by mmengine's
# Runner as the toolboxes' tools/train.py does.
TRAIN_ONLY = ''.join(f'{name} = None\n' for name in (
    'val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg', 'test_evaluator'))
PROJECT_CONFIGS = {
    'mmdet': '''
        _base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']
        custom_imports = dict(imports=['mmvitplug'], allow_failed_imports=False)
        classes = ('circle', 'triangle', 'rectangle', 'star')
        model = dict(
            backbone=dict(_delete_=True, type='BiFormer', arch='tiny', n_win=4),
            neck=dict(in_channels=[64, 128, 256, 512]),
            roi_head=dict(bbox_head=dict(num_classes=4), mask_head=dict(num_classes=4)))
        pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
            dict(type='Resize', scale=(128, 128), keep_ratio=True),
            dict(type='PackDetInputs')]
        train_dataloader = dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            dataset=dict(data_root='{root}/coco/', metainfo=dict(classes=classes),
                         ann_file='annotations/instances_train.json', indices=4,
                         data_prefix=dict(img='train/'), pipeline=pipeline))
        train_cfg = dict(max_epochs=1)
        default_hooks = dict(checkpoint=dict(interval=1))
        ''',
    'mmseg': '''
        _base_ = ['mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py']
        custom_imports = dict(imports=['mmvitplug'], allow_failed_imports=False)
        crop_size = (128, 128)
        model = dict(
            data_preprocessor=dict(size=crop_size),
            backbone=dict(_delete_=True, type='LITv2', arch='s'),
            decode_head=dict(num_classes=5), auxiliary_head=dict(num_classes=5))
        pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='RandomCrop', crop_size=crop_size),
            dict(type='PackSegInputs')]
        train_dataloader = dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            dataset=dict(data_root='{root}/ade', pipeline=pipeline,
                         data_prefix=dict(img_path='images/training',
                                          seg_map_path='annotations/training')))
        train_cfg = dict(max_iters=2, val_interval=100)
        default_hooks = dict(checkpoint=dict(interval=2))
        ''',
}


@pytest.mark.slow
@pytest.mark.parametrize('scope', sorted(PROJECT_CONFIGS))
def test_existing_project_uses_the_plugin_through_custom_imports(scope, demo_data, tmp_path):
    config = tmp_path / f'my_{scope}_config.py'
    config.write_text(textwrap.dedent(PROJECT_CONFIGS[scope]).replace('{root}', str(demo_data)) +
                      TRAIN_ONLY)
    work = tmp_path / 'work'
    script = ('import sys; from mmengine.config import Config; from mmengine.runner import '
              'Runner; cfg = Config.fromfile(sys.argv[1]); cfg.work_dir = sys.argv[2]; '
              'Runner.from_cfg(cfg).train(); '
              'import json; print(json.dumps(sorted(k for k in sys.modules '
              "if k.split('.')[0] == 'mmvitplug')[:1]))")
    # Run from the temporary folder: nothing of this repository is on the path but the
    # installed package.
    proc = run_python(['-c', script, str(config), str(work)], cwd=tmp_path, check=True)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ['mmvitplug']
    assert (work / ('epoch_1.pth' if scope == 'mmdet' else 'iter_2.pth')).is_file()
