"""A whole mmdet detector's inference as one tensor function that exports to ONNX with standard
operators only (TopK, NonMaxSuppression, RoiAlign, NonZero, Gather ...): no custom-op library.

:class:`DetectionGraph` wraps an mmdet ``TwoStageDetector`` (RPN + ``StandardRoIHead`` or
``CascadeRoIHead``, with or without masks: Faster / Mask / Cascade (Mask) R-CNN) or an anchor-based
``SingleStageDetector`` (RetinaNet). Its interface is mmdeploy's:

* input ``input``: float32 ``(1, 3, H, W)``, the image at the size the test pipeline resized it
  to, preprocessed as the config's data preprocessor does (channel flip, mean / std) but not
  padded: the graph pads to the preprocessor's size divisor itself, so that boxes are clipped to
  the image as mmdet clips them (:func:`preprocess` makes this input from an image);
* outputs ``dets`` ``(1, N, 5)`` (x1, y1, x2, y2, score in input pixels), ``labels`` ``(1, N)``
  and, for instance segmentation, ``masks`` ``(1, N, H, W)``: mask probabilities pasted at the
  input size. ``N`` is what mmdet keeps (at most the config's ``max_per_img``), ordered by score.

Every step is mmdet's test-time computation on the same tensors (mmdet 3.3 / mmcv 2.1): the
same anchors, top-k per level, box decoding and clipping, mmcv's ``batched_nms`` (its class
offsets included, which set its round-off), RoI level mapping and RoIAlign (``aligned=True``),
cascade refinement and score averaging, ``multiclass_nms``, mask averaging over cascade stages.
The differences are deliberate and stated:

* masks are probabilities (mmdet thresholds them at ``mask_thr_binary``), pasted as mmdet pastes
  them on the CPU: into each box's extent plus one pixel (mmdet's GPU path pastes over the whole
  image, which differs below the threshold, and for boxes of zero width or height);
* the bilinear paste is two small matrix products instead of ``grid_sample`` (the same weights:
  round-off differences of about 1e-7), and 0 where mmdet's is 0 / 0 (NaN);
* exact ties of scores may be ordered differently: mmcv's NMS sorts with torch's unstable sort,
  ONNX puts the lower index first. (Tied boxes that overlap above the IoU threshold may then
  keep a different one of them; the check pairs detections rather than positions.)

RoIAlign with ``aligned=True`` is ONNX's ``RoiAlign`` with ``coordinate_transformation_mode=
'half_pixel'``, which came in opset 16: detectors with RoI heads export at opset >= 16.
"""
from typing import List, NamedTuple, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import nms, roi_align

from mmvitplug.models.layers.geometry import pad_amount

__all__ = ['BOX_TOLERANCE', 'MASK_BAND', 'SCORE_TOLERANCE', 'DetectionCheck', 'DetectionGraph',
           'MIN_ROI_OPSET',
           'check_detector', 'check_exportable_detector', 'compare_detections',
           'mmdet_predictions', 'preprocess']

# ONNX RoiAlign's half-pixel mode (mmcv's aligned=True) exists from opset 16.
MIN_ROI_OPSET = 16

_TWO_STAGE_HEADS = ('StandardRoIHead', 'CascadeRoIHead')
_DENSE_HEADS = ('RetinaHead', 'AnchorHead')


def preprocess(detector: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """The graph's input for an image ``(3, H, W)`` (uint8 or float, channels as loaded, BGR for
    mmdet's loaders): what the detector's data preprocessor computes before padding, in its order
    of operations (float, channel flip, ``(x - mean) / std``)."""
    from .deployment import preprocessor_steps
    pre = detector.data_preprocessor
    flip, normalize = preprocessor_steps(pre)
    x = image.float()
    if flip:
        x = x[[2, 1, 0], ...]
    if normalize:
        x = (x - pre.mean) / pre.std
    return x[None]


def _type(module) -> str:
    return type(module).__name__


def check_exportable_detector(detector: nn.Module) -> None:
    """Raise ``ValueError`` naming what is supported when ``detector`` is not a detector
    :class:`DetectionGraph` can express."""
    supported = ('two-stage detectors with an RPNHead and a StandardRoIHead or CascadeRoIHead '
                 '(Faster / Mask / Cascade (Mask) R-CNN) and RetinaNet-style single-stage '
                 'detectors (AnchorHead / RetinaHead), with DeltaXYWHBBoxCoder boxes and '
                 'plain NMS')
    problems = []
    if getattr(detector, 'with_rpn', False):
        if _type(detector.rpn_head) != 'RPNHead':
            problems.append(f'rpn_head is {_type(detector.rpn_head)}')
        heads = detector.roi_head
        if _type(heads) not in _TWO_STAGE_HEADS:
            problems.append(f'roi_head is {_type(heads)}')
        else:
            bbox_heads = heads.bbox_head if _type(heads) == 'CascadeRoIHead' else [heads.bbox_head]
            for head in bbox_heads:
                if getattr(head, 'custom_cls_channels', False) or not head.with_reg:
                    problems.append(f'{_type(head)} has a custom classifier or no regression')
                if _type(head.bbox_coder) != 'DeltaXYWHBBoxCoder':
                    problems.append(f'box coder {_type(head.bbox_coder)}')
            extractors = (heads.bbox_roi_extractor if _type(heads) == 'CascadeRoIHead' else
                          [heads.bbox_roi_extractor])
            for extractor in extractors:
                layer = extractor.roi_layers[0]
                if _type(extractor) != 'SingleRoIExtractor' or _type(layer) != 'RoIAlign' or \
                        getattr(layer, 'pool_mode', 'avg') != 'avg':
                    problems.append(f'RoI extractor {_type(extractor)} / {_type(layer)}')
            if getattr(heads, 'with_mask', False):
                masks = heads.mask_head if _type(heads) == 'CascadeRoIHead' else [heads.mask_head]
                if any(_type(m) != 'FCNMaskHead' for m in masks):
                    problems.append(f'mask head {_type(masks[0])}')
        nms_cfgs = [detector.test_cfg.rpn.nms, detector.test_cfg.rcnn.nms]
    elif _type(getattr(detector, 'bbox_head', None)) in _DENSE_HEADS:
        head = detector.bbox_head
        if not head.use_sigmoid_cls or _type(head.bbox_coder) != 'DeltaXYWHBBoxCoder':
            problems.append(f'{_type(head)} without sigmoid scores or with '
                            f'{_type(head.bbox_coder)}')
        nms_cfgs = [detector.test_cfg.nms]
    else:
        raise ValueError(f'cannot export {_type(detector)} as a whole detector; supported: '
                         f'{supported}')
    for cfg in nms_cfgs:
        if cfg.get('type', 'nms') != 'nms' or cfg.get('class_agnostic', False):
            problems.append(f'NMS {dict(cfg)}')
    if _type(detector.data_preprocessor) != 'DetDataPreprocessor' or \
            detector.data_preprocessor.batch_augments:
        problems.append(f'data preprocessor {_type(detector.data_preprocessor)} with batch '
                        'augments')
    if problems:
        raise ValueError(f'cannot export {_type(detector)} as a whole detector ('
                         f'{"; ".join(problems)}); supported: {supported}')


# --------------------------------------------------------------------------- box arithmetic

def _clip(boxes: torch.Tensor, height: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Boxes ``(N, 4)`` clamped to ``[0, W] x [0, H]`` (mmdet clips to the image, not the padded
    batch); the image size as 0-dim float tensors, so the graph keeps it symbolic."""
    xs = torch.minimum(boxes[:, 0::2].clamp(min=0), width)
    ys = torch.minimum(boxes[:, 1::2].clamp(min=0), height)
    return torch.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], dim=1)


class DeltaDecoder(nn.Module):
    """mmdet's ``DeltaXYWHBBoxCoder.decode`` of ``(N, 4)`` priors and deltas, clipped to the
    image, in mmdet's order of operations (which sets the round-off)."""

    def __init__(self, coder) -> None:
        super().__init__()
        if getattr(coder, 'add_ctr_clamp', False):
            raise ValueError('DeltaXYWHBBoxCoder(add_ctr_clamp=True) is not supported')
        self.register_buffer('means', torch.tensor(coder.means, dtype=torch.float32)[None],
                             persistent=False)
        self.register_buffer('stds', torch.tensor(coder.stds, dtype=torch.float32)[None],
                             persistent=False)
        self.clip = bool(coder.clip_border)
        # mmdet's wh_ratio_clip default, as numpy computes its bound.
        self.max_ratio = float(np.abs(np.log(16 / 1000)))

    def forward(self, priors, deltas, height, width):
        deltas = deltas * self.stds + self.means
        centres = (priors[:, :2] + priors[:, 2:]) * 0.5
        sizes = priors[:, 2:] - priors[:, :2]
        centres = centres + sizes * deltas[:, :2]
        sizes = sizes * deltas[:, 2:].clamp(min=-self.max_ratio, max=self.max_ratio).exp()
        boxes = torch.cat([centres - sizes * 0.5, centres + sizes * 0.5], dim=-1)
        return _clip(boxes, height, width) if self.clip else boxes


def grid_anchors(base: torch.Tensor, stride: Tuple[int, int], feature: torch.Tensor):
    """mmdet's ``AnchorGenerator.single_level_grid_priors``: the ``(A, 4)`` base anchors shifted
    to every position of ``feature``'s ``(h, w)`` grid, position-major ``(h * w * A, 4)``."""
    h, w = feature.shape[-2:]
    xs = torch.arange(w, device=base.device).to(base.dtype) * stride[0]
    ys = torch.arange(h, device=base.device).to(base.dtype) * stride[1]
    xs, ys = xs[None, :].expand(h, w).reshape(-1), ys[:, None].expand(h, w).reshape(-1)
    shifts = torch.stack([xs, ys, xs, ys], dim=-1)
    return (base[None] + shifts[:, None]).reshape(-1, 4)


def batched_nms(boxes, scores, groups, iou_threshold: float) -> torch.Tensor:
    """mmcv's ``batched_nms`` (class-aware): indices kept, by descending score. Like mmcv, the
    groups are separated by shifting each group's boxes by ``group * (max coordinate + 1)``, so
    the IoUs, and which boxes a near-threshold pair keeps, have mmcv's round-off. (The 0
    appended to the maximum makes it defined for no boxes; clipped boxes are >= 0.)"""
    top = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    shifted = boxes + (groups.to(boxes.dtype) * (top + 1))[:, None]
    return nms(shifted, scores, iou_threshold)


def multiclass_nms(boxes, scores, score_thr: float, iou_threshold: float, max_num: int):
    """mmdet's ``multiclass_nms``: ``boxes`` ``(N, 4)`` (class-agnostic) or ``(N, C * 4)``,
    ``scores`` ``(N, C + 1)`` with the background last. Returns the kept boxes, scores and
    labels (at most ``max_num`` when it is > 0), by descending score."""
    num_classes = scores.shape[1] - 1
    scores = scores[:, :-1]
    if boxes.shape[1] > 4:
        boxes = boxes.reshape(boxes.shape[0], num_classes, 4)
    else:
        boxes = boxes[:, None].expand(boxes.shape[0], num_classes, 4)
    labels = torch.arange(num_classes, device=scores.device)[None].expand_as(scores)
    boxes, scores, labels = boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    keep = (scores > score_thr).nonzero().squeeze(1)
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    keep = batched_nms(boxes, scores, labels, iou_threshold)
    if max_num > 0:
        keep = keep[:max_num]
    return boxes[keep], scores[keep], labels[keep]


# ------------------------------------------------------------------------------- RoI features

def roi_features(extractor, features: Sequence[torch.Tensor], boxes: torch.Tensor):
    """mmdet's ``SingleRoIExtractor``: each box ``(K, 4)`` pooled with RoIAlign from its FPN
    level (by ``floor(log2(sqrt(area) / finest_scale + 1e-6))``), returned in box order
    ``(K, C, s, s)``. Boxes are gathered per level and put back in order by the inverse
    permutation, so each box is pooled once, as in mmdet."""
    layers = extractor.roi_layers
    levels = len(layers)
    scale = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    target = torch.floor(torch.log2(scale / extractor.finest_scale + 1e-6))
    target = target.clamp(min=0, max=levels - 1).long()
    batch = boxes.new_zeros(boxes.shape[0], 1)
    pooled, order = [], []
    for level, (layer, feature) in enumerate(zip(layers, features[:levels])):
        index = (target == level).nonzero().squeeze(1)
        rois = torch.cat([batch[index], boxes[index]], dim=1)
        pooled.append(roi_align(feature, rois, layer.output_size, layer.spatial_scale,
                                layer.sampling_ratio, layer.aligned))
        order.append(index)
    pooled, order = torch.cat(pooled), torch.cat(order)
    inverse = torch.zeros_like(order).scatter(0, order, torch.arange(order.shape[0],
                                                                     device=order.device))
    return pooled[inverse]


# ------------------------------------------------------------------------------ mask pasting

def _bilinear_weights(coords: torch.Tensor, size: int) -> torch.Tensor:
    """``(N, L, size)``: the weight of each of ``size`` source pixels in the bilinear sample at
    each source coordinate ``(N, L)`` (zero outside), as ``grid_sample`` computes them: ``(i + 1)
    - x`` for ``i = floor(x)`` and ``x - (i - 1)`` for the pixel after it."""
    source = torch.arange(size, device=coords.device).to(coords.dtype)
    x = coords[..., None]
    low = torch.floor(x)
    zero = torch.zeros_like(x)
    return torch.where(source == low, (low + 1) - x, torch.where(source == low + 1, x - low, zero))


def _extent(pixels: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """``(N, L)``: 1 for the pixels mmdet pastes a box's mask into on the CPU, from
    ``floor(low) - 1`` to ``ceil(high) + 1`` (exclusive), else 0."""
    return ((pixels >= torch.floor(low) - 1) & (pixels < torch.ceil(high) + 1)).to(pixels.dtype)


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """mmdet's mask pasting on the CPU (``_do_paste_mask`` with ``skip_empty``): ``masks``
    ``(N, m, m)`` (probabilities in the box frame), ``boxes`` ``(N, 4)``, onto ``image``'s
    ``(H, W)`` grid -> ``(N, H, W)``. ``grid_sample(align_corners=False)`` with zero padding
    samples each pixel centre's position in the box, inside the box's extent plus one pixel
    (zero elsewhere). The sampling is separable, so it is ``Wy @ mask @ Wx^T``."""
    h, w = image.shape[-2:]
    x0, y0, x1, y1 = boxes.split(1, dim=1)
    rows = torch.arange(h, device=boxes.device).to(boxes.dtype)
    cols = torch.arange(w, device=boxes.device).to(boxes.dtype)
    gy = (rows[None] + 0.5 - y0) / (y1 - y0) * 2 - 1
    gx = (cols[None] + 0.5 - x0) / (x1 - x0) * 2 - 1
    # mmdet sets the infinite positions of empty boxes to 0 (and leaves 0 / 0, NaN, which
    # compares false with its threshold: it is 0 here).
    gy = torch.where(torch.isinf(gy), torch.zeros_like(gy), gy)
    gx = torch.where(torch.isinf(gx), torch.zeros_like(gx), gx)
    mh, mw = masks.shape[-2:]
    wy = _bilinear_weights(((gy + 1) * mh - 1) / 2, mh) * _extent(rows, y0, y1)[..., None]
    wx = _bilinear_weights(((gx + 1) * mw - 1) / 2, mw) * _extent(cols, x0, x1)[..., None]
    return torch.matmul(torch.matmul(wy, masks), wx.transpose(1, 2))


# --------------------------------------------------------------------------------- the graph

class DetectionGraph(nn.Module):
    """An mmdet detector's ``predict`` on one image as ONNX-exportable tensor operations (see the
    module docstring for the interface and the supported detectors).

    Args:
        detector: the mmdet detector, in eval mode.

    Raises:
        ValueError: the detector's type or its heads are not supported (the message says what
            is).
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        check_exportable_detector(detector)
        self.detector = detector.eval()
        pre = detector.data_preprocessor
        self.divisor, self.pad_value = int(pre.pad_size_divisor), float(pre.pad_value)
        self.two_stage = bool(getattr(detector, 'with_rpn', False))
        dense = detector.rpn_head if self.two_stage else detector.bbox_head
        generator = dense.prior_generator
        for level, base in enumerate(generator.base_anchors):
            self.register_buffer(f'base_anchors{level}', base.clone(), persistent=False)
        self.strides = [tuple(int(s) for s in stride) for stride in generator.strides]
        self.dense_decoder = DeltaDecoder(dense.bbox_coder)
        if self.two_stage:
            heads = detector.roi_head
            self.cascade = _type(heads) == 'CascadeRoIHead'
            bbox_heads = list(heads.bbox_head) if self.cascade else [heads.bbox_head]
            self.roi_decoders = nn.ModuleList(DeltaDecoder(h.bbox_coder) for h in bbox_heads)
            self.with_mask = bool(heads.with_mask)
        else:
            self.with_mask = False
        self.eval()

    def train(self, mode: bool = True) -> 'DetectionGraph':
        """Always in eval mode: the graph is the detector's test-time computation (and
        ``torch.onnx.export`` restores a wrapper's training flag over the whole tree after
        tracing, which would otherwise put the detector's norms in training mode)."""
        return super().train(False)

    @property
    def output_names(self) -> List[str]:
        return ['dets', 'labels', 'masks'] if self.with_mask else ['dets', 'labels']

    def forward(self, image: torch.Tensor):
        size = torch._shape_as_tensor(image)[-2:].to(image.dtype)
        height, width = size[0], size[1]
        pad_h, pad_w = (pad_amount(s, self.divisor) for s in image.shape[-2:])
        padded = F.pad(image, (0, pad_w, 0, pad_h), value=self.pad_value)
        features = self.detector.extract_feat(padded)
        if self.two_stage:
            proposals = self._proposals(features, height, width)
            boxes, scores, labels = self._roi_detections(features, proposals, height, width)
        else:
            boxes, scores, labels = self._dense_detections(features, height, width)
        dets = torch.cat([boxes, scores[:, None]], dim=1)[None]
        if not self.with_mask:
            return dets, labels[None]
        return dets, labels[None], self._masks(features, boxes, labels, image)[None]

    def _anchors(self, level: int, feature: torch.Tensor) -> torch.Tensor:
        return grid_anchors(getattr(self, f'base_anchors{level}'), self.strides[level], feature)

    # ---------------------------------------------------------------- two-stage detectors
    def _proposals(self, features, height, width) -> torch.Tensor:
        """RPNHead's ``predict_by_feat`` on one image: the proposal boxes ``(K, 4)``."""
        head, cfg = self.detector.rpn_head, self.detector.test_cfg.rpn
        nms_pre = cfg.get('nms_pre', -1)
        all_scores, all_deltas, all_priors, all_levels = [], [], [], []
        for level, (logits, deltas) in enumerate(zip(*head(features))):
            priors = self._anchors(level, logits)
            deltas = deltas[0].permute(1, 2, 0).reshape(-1, 4)
            logits = logits[0].permute(1, 2, 0).reshape(-1, head.cls_out_channels)
            scores = (logits.sigmoid() if head.use_sigmoid_cls else
                      logits.softmax(-1)[:, :-1]).reshape(-1)
            if nms_pre > 0:
                # mmdet sorts only where a level has more than nms_pre anchors; sorting always
                # changes no kept box (NMS orders by score again), only exact ties' order.
                scores, order = scores.sort(descending=True)
                scores, order = scores[:nms_pre], order[:nms_pre]
                deltas, priors = deltas[order], priors[order]
            all_scores.append(scores)
            all_deltas.append(deltas)
            all_priors.append(priors)
            all_levels.append(torch.full_like(scores, level, dtype=torch.long))
        boxes = self.dense_decoder(torch.cat(all_priors), torch.cat(all_deltas), height, width)
        scores, levels = torch.cat(all_scores), torch.cat(all_levels)
        boxes, scores, levels = self._drop_small(cfg, boxes, scores, levels)
        keep = batched_nms(boxes, scores, levels, cfg.nms.iou_threshold)
        return boxes[keep[:cfg.max_per_img]]

    @staticmethod
    def _drop_small(cfg, boxes, *others):
        """mmdet's ``min_bbox_size`` filter (width and height above it), where configured."""
        if cfg.get('min_bbox_size', -1) < 0:
            return (boxes, *others)
        size = cfg.min_bbox_size
        keep = ((boxes[:, 2] - boxes[:, 0] > size) &
                (boxes[:, 3] - boxes[:, 1] > size)).nonzero().squeeze(1)
        return (boxes[keep], *(t[keep] for t in others))

    def _stages(self):
        heads = self.detector.roi_head
        if self.cascade:
            return list(zip(heads.bbox_roi_extractor, heads.bbox_head, self.roi_decoders))
        return [(heads.bbox_roi_extractor, heads.bbox_head, self.roi_decoders[0])]

    @staticmethod
    def _decode_by_class(decoder, head, rois, deltas, labels, height, width):
        """``BBoxHead.regress_by_class``: each RoI refined by its label's deltas."""
        if not head.reg_class_agnostic:
            columns = (labels * 4)[:, None] + torch.arange(4, device=labels.device)
            deltas = torch.gather(deltas, 1, columns)
        return decoder(rois, deltas, height, width)

    def _roi_detections(self, features, rois, height, width):
        """``StandardRoIHead`` / ``CascadeRoIHead`` ``predict_bbox``: the refined boxes of each
        stage, the stages' mean class logits, softmax, then ``multiclass_nms``."""
        stages = self._stages()
        logits = []
        for i, (extractor, head, decoder) in enumerate(stages):
            cls, deltas = head(roi_features(extractor, features, rois))
            logits.append(cls)
            if i < len(stages) - 1:
                labels = cls[:, :-1].argmax(dim=1)
                rois = self._decode_by_class(decoder, head, rois, deltas, labels, height, width)
        # mmdet averages the stages' logits as sum(...) / float(n) (1 stage: unchanged).
        mean = logits[0]
        for cls in logits[1:]:
            mean = mean + cls
        if len(logits) > 1:
            mean = mean / float(len(logits))
        scores = F.softmax(mean, dim=-1)
        head = stages[-1][1]
        if head.reg_class_agnostic:
            boxes = decoder(rois, deltas, height, width)
        else:
            classes = head.num_classes
            boxes = decoder(rois.repeat_interleave(classes, dim=0), deltas.reshape(-1, 4),
                            height, width).reshape(rois.shape[0], classes * 4)
        cfg = self.detector.test_cfg.rcnn
        return multiclass_nms(boxes, scores, cfg.score_thr, cfg.nms.iou_threshold,
                              cfg.max_per_img)

    def _masks(self, features, boxes, labels, image):
        """``predict_mask``: the mask heads' sigmoid (averaged over cascade stages) for each
        detection's class, pasted at the image size."""
        heads = self.detector.roi_head
        pairs = (list(zip(heads.mask_roi_extractor, heads.mask_head)) if self.cascade else
                 [(heads.mask_roi_extractor, heads.mask_head)])
        probabilities = [head(roi_features(extractor, features, boxes)).sigmoid()
                         for extractor, head in pairs]
        masks = (torch.stack(probabilities).mean(dim=0) if len(probabilities) > 1 else
                 probabilities[0])
        if not pairs[-1][1].class_agnostic:
            masks = masks[torch.arange(masks.shape[0], device=masks.device), labels]
        else:
            masks = masks[:, 0]
        return paste_masks(masks, boxes, image)

    # ----------------------------------------------------------------- single-stage detectors
    def _dense_detections(self, features, height, width):
        """An anchor head's ``predict_by_feat`` (RetinaNet): per level the scores above
        ``score_thr``, their ``nms_pre`` best (anchor, class) pairs, then class-aware NMS."""
        head, cfg = self.detector.bbox_head, self.detector.test_cfg
        nms_pre, score_thr = cfg.get('nms_pre', -1), cfg.get('score_thr', 0)
        all_scores, all_labels, all_deltas, all_priors = [], [], [], []
        for level, (logits, deltas) in enumerate(zip(*head(features))):
            priors = self._anchors(level, logits)
            deltas = deltas[0].permute(1, 2, 0).reshape(-1, 4)
            scores = logits[0].permute(1, 2, 0).reshape(-1, head.cls_out_channels).sigmoid()
            # mmdet's filter_scores_and_topk
            valid = scores > score_thr
            pairs = valid.nonzero()
            scores, order = scores[valid].sort(descending=True)
            if nms_pre > 0:
                scores, order = scores[:nms_pre], order[:nms_pre]
            pairs = pairs[order]
            all_scores.append(scores)
            all_labels.append(pairs[:, 1])
            all_deltas.append(deltas[pairs[:, 0]])
            all_priors.append(priors[pairs[:, 0]])
        boxes = self.dense_decoder(torch.cat(all_priors), torch.cat(all_deltas), height, width)
        scores, labels = torch.cat(all_scores), torch.cat(all_labels)
        boxes, scores, labels = self._drop_small(cfg, boxes, scores, labels)
        keep = batched_nms(boxes, scores, labels, cfg.nms.iou_threshold)[:cfg.max_per_img]
        return boxes[keep], scores[keep], labels[keep]


# The detection check's tolerances (the deployment contract): boxes within this fraction of the
# image's larger side, scores within this absolute difference, and binary masks equal except
# for pixels whose probability is this close to the threshold. Float32 round-off of another
# runtime moves boxes by about 1e-3 pixels through a detector, and a mask's probabilities
# move with its box (by up to 4e-3 measured on the random-weight demo detector, whose masks are
# steep).
BOX_TOLERANCE = 1e-3
SCORE_TOLERANCE = 1e-4
MASK_BAND = 1e-2


def mmdet_predictions(detector: nn.Module, image: torch.Tensor):
    """mmdet's own inference of ``image`` ``(3, H, W)`` (as loaded, taken as already resized):
    its ``test_step``, i.e. the data preprocessor (normalisation, padding) and ``predict``,
    as ``inference_detector`` runs them after the test pipeline. Returns the ``pred_instances``."""
    from mmdet.structures import DetDataSample
    h, w = image.shape[-2:]
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                         scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        return detector.test_step(dict(inputs=[image], data_samples=[sample]))[0].pred_instances


class DetectionCheck(NamedTuple):
    """One image of :func:`check_detector`: its size, the detection counts of mmdet and of the
    ONNX file, mmdet's detections with no ONNX detection of the same label and a score within
    the tolerance, the largest box and score differences of the matched pairs and the mask
    pixels whose binarisation differs (pixels within :data:`MASK_BAND` of the threshold not
    counted)."""
    size: Tuple[int, int]
    detections: int
    onnx_detections: int
    unmatched: int
    box_diff: float
    score_diff: float
    mask_pixel_mismatches: int

    @property
    def ok(self) -> bool:
        return (self.detections == self.onnx_detections and self.unmatched == 0
                and self.box_diff <= BOX_TOLERANCE * max(self.size)
                and self.score_diff <= SCORE_TOLERANCE and self.mask_pixel_mismatches == 0)


def _match(boxes, scores, labels, ref_boxes, ref_scores, ref_labels) -> np.ndarray:
    """For each reference detection, in its order, the closest (largest coordinate difference)
    unclaimed detection of the same label with a score within the tolerance, or -1. Exact score
    ties have no defined order (mmcv's NMS sorts with torch's unstable sort, ONNX puts the lower
    index first), so the check pairs detections rather than comparing positions."""
    cost = np.abs(ref_boxes[:, None] - boxes[None]).max(-1)
    cost[(ref_labels[:, None] != labels[None]) |
         (np.abs(ref_scores[:, None] - scores[None]) > SCORE_TOLERANCE)] = np.inf
    pairs = np.full(len(ref_boxes), -1)
    for i, row in enumerate(cost):
        j = int(np.argmin(row)) if len(row) else 0
        if len(row) and np.isfinite(row[j]):
            pairs[i] = j
            cost[:, j] = np.inf
    return pairs


def compare_detections(expected, size: Tuple[int, int], outputs: Sequence[np.ndarray],
                       mask_threshold: float = 0.5) -> DetectionCheck:
    """The graph's outputs for one image (``dets`` ``(1, N, 5)``, ``labels`` ``(1, N)`` and
    maybe ``masks`` ``(1, N, H, W)`` probabilities) against mmdet's ``pred_instances``."""
    dets, labels = outputs[0][0], outputs[1][0]
    masks = outputs[2][0] if len(outputs) > 2 else None
    ref_boxes, ref_scores = expected.bboxes.numpy(), expected.scores.numpy()
    pairs = _match(dets[:, :4], dets[:, 4], labels, ref_boxes, ref_scores,
                   expected.labels.numpy())
    found = pairs >= 0
    row = dict(size=size, detections=len(ref_scores), onnx_detections=len(dets),
               unmatched=int((~found).sum()), box_diff=0.0, score_diff=0.0,
               mask_pixel_mismatches=0)
    if found.any():
        got = dets[pairs[found]]
        row['box_diff'] = float(np.abs(got[:, :4] - ref_boxes[found]).max())
        row['score_diff'] = float(np.abs(got[:, 4] - ref_scores[found]).max())
        if masks is not None and 'masks' in expected:
            got = masks[pairs[found]]
            differ = (got >= mask_threshold) != expected.masks.numpy()[found]
            row['mask_pixel_mismatches'] = int(
                (differ & (np.abs(got - mask_threshold) > MASK_BAND)).sum())
    return DetectionCheck(**row)


def check_detector(path: str, graph: DetectionGraph, images: Sequence[torch.Tensor],
                   runtime: str = 'onnxruntime') -> List[DetectionCheck]:
    """Run the exported ``graph`` (``path``) in ``runtime`` on each image ``(3, H, W)`` (as
    loaded) and compare with mmdet's inference of the same image (:func:`mmdet_predictions`,
    mask threshold from the config)."""
    from .runtimes import load_onnx
    run = load_onnx(path, runtime)
    rcnn = graph.detector.test_cfg.get('rcnn', graph.detector.test_cfg)
    threshold = rcnn.get('mask_thr_binary', 0.5)
    rows = []
    for image in images:
        outputs = run(preprocess(graph.detector, image).numpy())
        rows.append(compare_detections(mmdet_predictions(graph.detector, image),
                                       tuple(image.shape[-2:]), outputs, threshold))
    return rows
