"""Trial packing: --gpus-per-trial fractions put several trials on one GPU."""

from __future__ import annotations

import pytest

from study.cli import build_parser
from study.search import max_concurrent
from study.stages import Resources


@pytest.mark.parametrize(("gpus", "per_trial", "expected"),
                         [(4, 1.0, 4), (1, 0.25, 4), (2, 0.5, 4), (1, 0.3, 3), (1, 1.0, 1)])
def test_fractional_gpus_per_trial_pack_trials(gpus: int, per_trial: float,
                                               expected: int) -> None:
    resources = Resources(gpus=gpus, gpus_per_trial=per_trial, cpus_per_trial=1)
    assert max_concurrent(resources, cluster_cpus=64) == expected


def test_cpu_trials_are_bounded_by_cpus() -> None:
    resources = Resources(gpus=0, gpus_per_trial=1, cpus_per_trial=2)
    assert max_concurrent(resources, cluster_cpus=8) == 4


def test_gpus_per_trial_flag_takes_a_fraction_and_defaults_to_one() -> None:
    assert build_parser().parse_args(["--gpus-per-trial", "0.25"]).gpus_per_trial == 0.25
    assert build_parser().parse_args([]).gpus_per_trial == 1.0
