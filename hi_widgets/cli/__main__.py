"""``python -m hi_widgets.cli``: the same as ``hi-widgets``."""

import sys

from hi_widgets.cli.main import main

sys.exit(main())
