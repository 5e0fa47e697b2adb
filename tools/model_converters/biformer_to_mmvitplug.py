#!/usr/bin/env python
"""Convert an official BiFormer checkpoint (``biformer_tiny_best.pth`` etc., weights under
``model``) into an mmvitplug checkpoint.

    python tools/model_converters/biformer_to_mmvitplug.py biformer_tiny_best.pth \
        checkpoints/biformer-tiny_in1k.pth

The output holds ``state_dict`` with mmpretrain ``ImageClassifier`` keys (``backbone.*``,
``head.fc.*``) and ``meta``, loads under ``torch.load(weights_only=True)``, and is checked to load
strictly into the architecture before it is written. Released variants (tiny, small, base) are
recognised from the keys; for another architecture pass the official constructor kwargs with
``--config``. Use it from det/seg configs with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
"""
import sys

from mmvitplug.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('biformer', __doc__))
