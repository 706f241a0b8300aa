"""``python -m study.bench``: see :mod:`study.bench` and :mod:`study.bench.cli`."""

import sys

from study.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
