#!/usr/bin/env python
"""Convert the authors' released LITv2 checkpoints into mmvitplug ones: the repository's name
for the installed command ``python -m mmvitplug.converters litv2 SRC DST [options]`` (its
``--help`` lists what is recognised, the options and the weights' licence)."""
import sys

from mmvitplug.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('litv2'))
