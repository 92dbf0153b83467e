"""``python -m nettrain`` runs the ``nettrain`` command."""

import sys

from .cli import main

sys.exit(main())
