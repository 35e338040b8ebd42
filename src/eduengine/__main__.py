"""``python -m eduengine``: the command line (see :mod:`eduengine.ops.cli`)."""

from eduengine.ops.cli import main

if __name__ == "__main__":  # importing the module (tools that walk packages) runs nothing
    raise SystemExit(main())
