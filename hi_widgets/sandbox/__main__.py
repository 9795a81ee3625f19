"""``python -m hi_widgets.sandbox [options]``: the same as ``hi-widgets sandbox``."""

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["sandbox", *sys.argv[1:]]))
