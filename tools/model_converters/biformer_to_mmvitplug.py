#!/usr/bin/env python
"""Convert an official BiFormer checkpoint - the authors' ImageNet classifier
(``biformer_tiny_best.pth`` etc.) or one of their released COCO / ADE20K models - into an
mmvitplug checkpoint.

    python tools/model_converters/biformer_to_mmvitplug.py biformer_small_best.pth \
        checkpoints/biformer-small_in1k.pth
    python tools/model_converters/biformer_to_mmvitplug.py AUTHORS_MASKRCNN_SMALL.pth \
        checkpoints/mask-rcnn_biformer-small_fpn_1x_coco.pth

The kind of file is recognised from its keys. A classifier becomes mmpretrain
``ImageClassifier`` keys (``backbone.*``, ``head.fc.*``), for det/seg configs'
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``. A Mask R-CNN,
RetinaNet, Semantic FPN or UPerNet checkpoint with the authors' ``BiFormer_mm`` backbone (mmdet
2.x/3.x, mmseg 0.x/1.x) becomes the same model with mmvitplug's backbone (its ``extra_norms``
as the output norms), checked to load strictly into the shipped config of that model and
variant (``--target CONFIG`` names another), for ``tools/test.py CONFIG DST``, ``load_from`` or
``init_detector`` / ``init_model``. The output loads under ``torch.load(weights_only=True)`` and
is checked before it is written. Released variants (tiny, small, base) are recognised from the
keys; for another architecture pass the official constructor kwargs with ``--config``.
"""
import sys

from mmvitplug.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('biformer', __doc__))
