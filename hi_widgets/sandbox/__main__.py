"""``python -m hi_widgets.sandbox [options]``: the same as ``hi-widgets sandbox``."""

import sys

from .command import main

if __name__ == "__main__":
    sys.exit(main())
