"""``python -m mmvitplug.converters FAMILY SRC DST``: see :mod:`mmvitplug.converters.cli`."""
import sys

from .cli import main

if __name__ == '__main__':
    sys.exit(main())
