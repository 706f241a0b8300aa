"""Flags refused by ``python -m study.run``'s parser itself: one line on stderr naming the
flag, exit code 2, before anything else runs. (Bad input that reaches the study, run as a
user would in a subprocess, is tests/e2e/test_bad_input.py.)"""

from __future__ import annotations

import pytest

from study.cli import build_parser

OBJECTIVES = "target_video_acc,heldout_video_acc"
CASES = [
    ("negative --gpus", ["--gpus", "-1"], "--gpus"),
    ("non-numeric --gpus", ["--gpus", "two"], "--gpus"),
    ("negative --trials", ["--trials", "-4"], "--trials"),
    ("non-numeric --trials", ["--trials", "many"], "--trials"),
    ("zero --epochs", ["--epochs", "0"], "--epochs"),
    ("negative --epochs", ["--epochs", "-2"], "--epochs"),
    ("non-numeric --epochs", ["--epochs", "1.5"], "--epochs"),
    ("held-out --metric", ["--metric", "heldout_video_acc"], "held out"),
    ("--target-holdout of 1", ["--target-holdout", "1"], "--target-holdout"),
    ("--objectives naming a held-out accuracy", ["--objectives", OBJECTIVES], "held out"),
    ("--objectives of one accuracy", ["--objectives", "target_video_acc"], "two or more"),
]


@pytest.mark.parametrize(("argv", "expected"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_the_parser_refuses_in_one_line(argv: list[str], expected: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(argv)
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], captured.err
    assert captured.out == ""


def test_valid_objectives_are_kept_in_order() -> None:
    args = build_parser().parse_args(["--objectives", " source_video_acc , target_frame_acc"])
    assert args.objectives == ("source_video_acc", "target_frame_acc")
