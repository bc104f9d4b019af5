"""``python -m iresnet_core``: see :mod:`iresnet_core.cli`."""

import sys

from iresnet_core.cli import main

sys.exit(main())
