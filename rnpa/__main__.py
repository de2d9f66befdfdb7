"""``python -m rnpa ...``: the same commands as ``rnpa ...`` (see :mod:`rnpa.cli`)."""

import sys

from rnpa.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m rnpa"))
