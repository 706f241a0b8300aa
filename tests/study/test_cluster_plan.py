"""What a study may use of its cluster, refused before any data work when it is not there."""

from __future__ import annotations

import pytest

from study.cluster import Resources, netb_threads, plan_resources
from study.settings import RunOptions
from trainables.errors import UserInputError

CPU_ONLY = {"CPU": 2.0}
FOUR_GPUS = {"CPU": 32.0, "GPU": 4.0}


def test_every_gpu_by_default_and_the_flags_pass_through() -> None:
    options = RunOptions(gpus_per_trial=0.5, cpus_per_trial=3, max_failures=5, progress=False)
    assert plan_resources(options, FOUR_GPUS) == Resources(
        gpus=4, gpus_per_trial=0.5, cpus_per_trial=3, max_failures=5, progress=False)
    assert plan_resources(RunOptions(gpus=2), FOUR_GPUS).gpus == 2


TOO_MUCH = [(RunOptions(gpus=64), "--gpus 64"),
            (RunOptions(cpus_per_trial=3), "--cpus-per-trial 3")]


@pytest.mark.parametrize(("options", "flag"), TOO_MUCH)
def test_more_than_the_cluster_has_is_refused(options: RunOptions, flag: str) -> None:
    with pytest.raises(UserInputError, match=flag):
        plan_resources(options, CPU_ONLY)


def test_netb_uses_every_local_core_only_when_it_runs_alone_on_cpus() -> None:
    local = RunOptions(cpus_per_trial=1)
    assert netb_threads(local, plan_resources(local, {"CPU": 16.0}), {"CPU": 16.0}) == 16
    gpu = plan_resources(local, FOUR_GPUS)
    assert netb_threads(local, gpu, FOUR_GPUS) == 1
    joined = RunOptions(address="10.0.0.1:6379", cpus_per_trial=2)
    assert netb_threads(joined, plan_resources(joined, {"CPU": 16.0}), {"CPU": 16.0}) == 2
