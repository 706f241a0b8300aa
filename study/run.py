"""``python -m study.run``: run or resume one study (see ``--help``)."""

from __future__ import annotations

import os
import sys

from study.cli import build_parser, run_options, typed_settings
from trainables.errors import UserInputError


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Token authentication stays on, for joined clusters too (Ray < 2.61 defaults it on only
    # for local ones). Ray reads this when imported, hence before the driver's imports; the
    # token itself comes from RAY_AUTH_TOKEN or ~/.ray/auth_token.
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        from study.driver import run_study
        return run_study(run_options(args), typed_settings(args))
    except UserInputError as error:
        sys.stderr.write(f"study.run: error: {error}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
