#!/usr/bin/env python
"""Convert an official FasterViT checkpoint (``.pth.tar``, weights under ``state_dict``) into an
mmvitplug checkpoint.

    python tools/model_converters/fastervit_to_mmvitplug.py fastervit_0_224_1k.pth.tar \
        checkpoints/fastervit-0_in1k.pth

The output holds ``state_dict`` with mmpretrain ``ImageClassifier`` keys (``backbone.*``,
``head.fc.*``) and ``meta``, loads under ``torch.load(weights_only=True)``, and is checked to load
strictly into the architecture before it is written. The geometry buffers of the official file
(relative bias tables and indices) are dropped: mmvitplug recomputes them for every input size.
Released variants (0-6, 4-21k at 224/384/512/768) are recognised from the keys; for another
architecture pass the official constructor kwargs with ``--config``. Use it from det/seg configs
with ``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
"""
import sys

from mmvitplug.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('fastervit', __doc__))
