"""``python -m eduengine``: the command line (see :mod:`eduengine.cli`)."""

from eduengine.cli import main

raise SystemExit(main())
