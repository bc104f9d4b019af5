"""``python -m iresnet_core``: see :mod:`iresnet_core.cli`."""

import sys

from .cli import main

sys.exit(main())
