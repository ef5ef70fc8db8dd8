"""``python -m poselift.cli ...``: the ``poselift`` command without its console script."""

import sys

from . import main

sys.exit(main())
