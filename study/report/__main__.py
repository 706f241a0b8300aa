"""``python -m study.report --name NAME [--storage-path PATH]``."""

import sys

from study.report.cli import main

sys.exit(main())
