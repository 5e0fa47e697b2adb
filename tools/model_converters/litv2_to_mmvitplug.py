#!/usr/bin/env python
"""Convert an official LITv2 checkpoint - the authors' ImageNet classifier or one of their
released COCO / ADE20K models - into an mmvitplug checkpoint.

    python tools/model_converters/litv2_to_mmvitplug.py litv2_s.pth checkpoints/litv2-s_in1k.pth
    python tools/model_converters/litv2_to_mmvitplug.py mask_rcnn_litv2_s_fpn_1x_coco.pth \
        checkpoints/mask-rcnn_litv2-s_fpn_1x_coco.pth

The kind of file is recognised from its keys. A classifier becomes mmpretrain
``ImageClassifier`` keys (``backbone.*``, ``head.fc.*``), for det/seg configs'
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``. A Mask R-CNN,
RetinaNet or Semantic FPN checkpoint (mmdet 2.x/3.x, mmseg 0.x/1.x) becomes the same model with
mmvitplug's backbone, checked to load strictly into the shipped config of that model and
variant (``--target CONFIG`` names another), for ``tools/test.py CONFIG DST``, ``load_from`` or
``init_detector`` / ``init_model``. The output loads under ``torch.load(weights_only=True)`` and
is checked before it is written. Released variants (S/M/B) are recognised from the keys; for
another architecture pass the official constructor kwargs with ``--config``.
"""
import sys

from mmvitplug.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('litv2', __doc__))
