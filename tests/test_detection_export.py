"""Whole detectors as ONNX graphs of standard operators: each step equals mmdet's (mmcv's NMS,
RoI extraction, mask pasting), the graph equals mmdet's inference, and the exported file runs in
onnxruntime at sizes not used at export. The trained demo detector's export through the tool is
tested with the other trained demo checkpoints in test_inference_apis.py."""
import pytest
import torch

from conftest import REPO

DEMO = str(REPO / 'configs/demo/cascade_mask_rcnn_demo.py')


def _detector(config, init=True, **options):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS

    import mmvitplug.models  # noqa: F401
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    detector = MODELS.build(cfg.model)
    if init:  # mmdet's initialisation (RetinaNet's prior-probability bias)
        detector.init_weights()
    return detector.eval()


def _image(h, w, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8)


def test_batched_nms_is_mmcvs():
    from mmcv.ops import batched_nms as mmcv_batched_nms

    from mmvitplug.utils.detection_graph import batched_nms
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(3000, 2, generator=gen) * 300
    boxes = torch.cat([xy, xy + 5 + torch.rand(3000, 2, generator=gen) * 80], 1)
    scores = torch.rand(3000, generator=gen)
    groups = torch.randint(0, 7, (3000, ), generator=gen)
    _, expected = mmcv_batched_nms(boxes, scores, groups, dict(type='nms', iou_threshold=0.5))
    assert torch.equal(batched_nms(boxes, scores, groups, 0.5), expected)
    assert batched_nms(boxes[:0], scores[:0], groups[:0], 0.5).numel() == 0


def test_paste_masks_is_mmdets_paste():
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask

    from mmvitplug.utils.detection_graph import paste_masks
    gen = torch.Generator().manual_seed(0)
    masks = torch.rand(6, 1, 28, 28, generator=gen)
    boxes = torch.tensor([[3.2, 5.7, 60.1, 40.0], [0., 0., 97., 65.], [50.5, 10.25, 50.5, 30.],
                          [-10., -4., 20., 8.], [80., 50., 140., 90.], [1., 2., 3.5, 2.7]])
    got = paste_masks(masks[:, 0], boxes, torch.empty(1, 3, 66, 97))
    assert got.shape == (6, 66, 97)
    for mask, box, pasted in zip(masks, boxes, got):  # mmdet's CPU road: one box at a time
        expected = torch.zeros(66, 97)
        region, where = _do_paste_mask(mask[None], box[None], 66, 97, skip_empty=True)
        expected[where] = region[0]
        # 0 where mmdet divides 0 by 0 (the column of a zero-width box's edge)
        assert (pasted - expected.nan_to_num(0.)).abs().max() < 1e-6


def test_roi_features_are_single_roi_extractors():
    from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor

    from mmvitplug.utils.detection_graph import roi_features
    extractor = SingleRoIExtractor(out_channels=8, featmap_strides=[4, 8, 16, 32],
                                   roi_layer=dict(type='RoIAlign', output_size=7,
                                                  sampling_ratio=0))
    gen = torch.Generator().manual_seed(0)
    feats = [torch.randn(1, 8, 256 // s, 320 // s, generator=gen) for s in (4, 8, 16, 32)]
    xy = torch.rand(300, 2, generator=gen) * 200
    boxes = torch.cat([xy, xy + torch.rand(300, 2, generator=gen) * 300], 1)
    expected = extractor(feats, torch.cat([boxes.new_zeros(300, 1), boxes], 1))
    assert (roi_features(extractor, feats, boxes) - expected).abs().max() < 1e-6


@pytest.mark.parametrize('config,options', [
    (DEMO, {}),
    # RetinaNet with FasterViT-0 instead of BiFormer-S (the head is what is tested) and a score
    # threshold that random weights pass.
    ('configs/biformer/retinanet_biformer-small_fpn_1x_coco.py',
     {'model.backbone': dict(_delete_=True, type='FasterViT', arch='0'),
      'model.neck.in_channels': [64, 128, 256, 512], 'model.test_cfg.score_thr': 0.0095,
      'model.test_cfg.nms_pre': 300}),
], ids=['cascade-mask-rcnn', 'retinanet'])
def test_graph_is_mmdet_inference(config, options):
    """In PyTorch, the graph's detections are mmdet's test_step's (random weights: the demo
    detector's scores pass its 0.05 threshold, so its NMS and masks have work to do)."""
    from mmvitplug.utils.detection_graph import (DetectionGraph, compare_detections,
                                                 mmdet_predictions, preprocess)
    detector = _detector(str(REPO / config), **options)
    graph = DetectionGraph(detector)
    for h, w in [(96, 128), (131, 97)]:
        image = _image(h, w)
        with torch.no_grad():
            outputs = [t.numpy() for t in graph(preprocess(detector, image))]
        row = compare_detections(mmdet_predictions(detector, image), (h, w), outputs)
        assert row.detections > 5, row
        assert row.ok and row.box_diff < 1e-4 and row.score_diff < 1e-6, row


def test_headline_cascade_exports_and_runs_in_onnxruntime(tmp_path):
    """The headline Cascade Mask R-CNN config (random weights) exports with standard ONNX
    operators only and runs at a size not used at export (random weights detect nothing above
    its score threshold: the tests' trained demo detector checks the detections)."""
    import onnx

    from mmvitplug.utils.deployment import build_export_target, export_onnx
    from mmvitplug.utils.detection_graph import check_detector, preprocess
    target = build_export_target(str(REPO / 'configs/fastervit/cascade_mask_rcnn_coco.py'))
    assert target.kind == 'detector' and target.output_names == ['dets', 'labels', 'masks']
    path = str(tmp_path / 'cascade.onnx')
    export_onnx(target.module, path, preprocess(target.module.detector, _image(128, 128)),
                target.output_names, axes=target.dynamic_axes(), opset=17)
    domains = {node.domain for node in onnx.load(path).graph.node}
    assert domains <= {'', 'ai.onnx'}, domains
    rows = check_detector(path, target.module, [_image(133, 101, 1)])
    assert rows[0].ok, rows


def test_unsupported_detectors_and_opsets_are_refused(tmp_path):
    from conftest import run_python
    from mmvitplug.utils.detection_graph import DetectionGraph
    detector = _detector(str(REPO / 'configs/fastervit/dino-4scale_fastervit-0_8xb2-12e_coco.py'),
                         init=False)
    with pytest.raises(ValueError, match='supported: two-stage detectors'):
        DetectionGraph(detector)
    proc = run_python(['tools/deployment/pytorch2onnx.py', DEMO, '--out',
                       str(tmp_path / 'x.onnx'), '--opset', '11'])
    assert proc.returncode == 2 and 'opset 16' in proc.stderr, proc.stderr

