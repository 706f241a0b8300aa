"""The command line of ``python -m study.report``."""

from __future__ import annotations

import sys

import optuna

from study import defaults
from study.cli import OneLineParser
from study.layout import StudyLayout, relative
from study.report.document import write_report
from study.report.loading import find_study
from trainables.errors import UserInputError


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m study.report",
                           description="Write the tables and figures of a study (Tables II-V, "
                                       "VII, Figures 5-9 of Kollias & Zafeiriou, IJCNN 2018) "
                                       "to STORAGE/NAME/report/.")
    parser.add_argument("--name", required=True, help="the study's name (its folder).")
    parser.add_argument("--storage-path", default=defaults.STORAGE_PATH,
                        help=f"folder or URI holding the study [{defaults.STORAGE_PATH}].")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per in-memory study else
    try:
        layout = find_study(args.storage_path, args.name)
        path, missing = write_report(StudyLayout(layout.root))  # the local copy
    except UserInputError as error:
        sys.stderr.write(f"study.report: error: {error}\n")
        return 2
    layout.push("report")
    print(f"Report: {layout.display_root}/report/report.md" if layout.remote
          else f"Report: {relative(path)}")
    if missing:
        print(f"{len(missing)} item(s) missing; see the top of the report.")
    return 0
