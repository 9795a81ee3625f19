"""``python -m hi_widgets.sandbox [options]``: the same as ``hi-widgets sandbox``."""

import sys

from hi_widgets.sandbox.command import main

if __name__ == "__main__":
    sys.exit(main())
