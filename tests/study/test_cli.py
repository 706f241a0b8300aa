"""Flags refused by ``python -m study.run``'s parser itself: one line on stderr naming the
flag, exit code 2, before anything else runs. (Bad input that reaches the study, run as a
user would in a subprocess, is tests/e2e/test_bad_input.py.)"""

from __future__ import annotations

import pytest

from study.cli import build_parser
from study.settings import new_settings
from trainables.errors import UserInputError

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
    ("--va-grid of 1", ["--task", "va", "--va-grid", "1"], "--va-grid"),
    ("--va-grid of 101", ["--task", "va", "--va-grid", "101"], "--va-grid"),
    ("unknown --task", ["--task", "regression"], "--task"),
    ("held-out CCC --metric", ["--task", "va", "--metric", "heldout_frame_ccc"], "held out"),
]


#: Settings the parser takes but a new study refuses (study.settings), one line each.
SETTINGS_CASES = [
    ("--va-grid without --task va", {"va_grid": 10}, "--va-grid only apply"),
    ("--va-rule without --task va", {"va_rule": "argmax"}, "--task va"),
    ("a CCC metric for categories", {"metric": "target_frame_ccc"}, "valence-arousal figure"),
    ("--classes with --task va", {"task": "va", "classes": ("a", "b")}, "--classes"),
    ("--rounds with --task va", {"task": "va", "rounds": 2}, "--rounds with --task va"),
]


@pytest.mark.parametrize(("typed", "expected"), [case[1:] for case in SETTINGS_CASES],
                         ids=[case[0] for case in SETTINGS_CASES])
def test_a_new_study_refuses_settings_that_do_not_go_together(typed: dict,
                                                              expected: str) -> None:
    with pytest.raises(UserInputError, match=expected):
        new_settings(typed)


def test_a_va_study_selects_on_the_mean_frame_ccc_by_default() -> None:
    settings = new_settings({"task": "va"})
    assert settings.metric == "target_frame_ccc" and settings.va_grid == 20
    assert settings.objective == "best_target_frame_ccc"
    assert new_settings({"task": "va", "metric": "target_video_acc"}).metric == \
        "target_video_acc"  # cell accuracy may select too
    assert new_settings({}).metric == "target_video_acc"


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
