#!/usr/bin/env python
"""Convert an official LITv2 checkpoint (weights under ``model``) into an mmvitplug checkpoint.

    python tools/model_converters/litv2_to_mmvitplug.py litv2_s.pth checkpoints/litv2-s_in1k.pth

The output holds ``state_dict`` with mmpretrain ``ImageClassifier`` keys (``backbone.*``,
``head.fc.*``) and ``meta``, loads under ``torch.load(weights_only=True)``, and is checked to load
strictly into the architecture before it is written. Released variants (S/M/B) are recognised
from the keys; for another architecture pass the official constructor kwargs with ``--config``.
Use it from det/seg configs with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
"""
import sys

from mmvitplug.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('litv2', __doc__))
