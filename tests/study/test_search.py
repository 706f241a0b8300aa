"""Trial packing, the search spaces through OptunaSearch, and a real Tuner feeding Optuna."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState
from ray import tune
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.repeater import TRIAL_INDEX

import search_spaces
from study.cli import build_parser
from study.cluster import Resources
from study.layout import StudyLayout
from study.search import build_tuner, define_trial, fixed_config, make_trainable
from study.settings import StudySettings
from trainables.config import CELLS, METHODS, NORMALISATIONS, REPEAT_KEY


def test_gpus_per_trial_flag_takes_a_fraction_and_defaults_to_one() -> None:
    assert build_parser().parse_args(["--gpus-per-trial", "0.25"]).gpus_per_trial == 0.25
    assert build_parser().parse_args([]).gpus_per_trial == 1.0


# ----------------------------------------------------------------------------- search spaces

#: Searched distributions and fixed settings of the spaces written out here; any other space
#: (added later) still gets the generic checks of check_trial_config.
SPACES = {
    "paper": ({"lam": FloatDistribution(0.0, 1.0),
               "normalisation": CategoricalDistribution(("softmax", "linear")),
               "cell": CategoricalDistribution(("gru", "blstm")),
               "seq_len": CategoricalDistribution((20, 40, 60, 80))}, {}),
    "paper_int": ({"lam": FloatDistribution(0.0, 1.0),
                   "normalisation": CategoricalDistribution(("softmax", "linear")),
                   "cell": CategoricalDistribution(("gru", "blstm")),
                   "seq_len": IntDistribution(10, 80, step=10)}, {}),
    "table2": ({"lam": FloatDistribution(0.0, 1.0)},
               {"normalisation": "softmax", "cell": "gru", "seq_len": 80}),
}
FIXED = fixed_config(StudySettings(), train_backbone=False, autocast=False)
OBJECTIVE = StudySettings().objective


def check_trial_config(config: dict[str, Any], fixed: dict[str, Any] = FIXED) -> None:
    """What train_neta needs from any space: the method (the paper's when absent) and its
    knobs, the cell and window length, valid, and the fixed settings."""
    method = config.get("method", "centroid")
    assert method in METHODS
    if method == "centroid":
        assert 0.0 <= config["lam"] <= 1.0 and config["normalisation"] in NORMALISATIONS
    else:
        assert config.get("lam") is None  # a baseline's lam would put it on the lam axis
        weight = config.get(f"{method}_weight") or 1.0
        assert 0.0 < weight < float("inf")
    assert config["cell"] in CELLS
    assert isinstance(config["seq_len"], int) and 1 <= config["seq_len"]
    assert {key: config[key] for key in fixed} == fixed


@pytest.mark.parametrize("name", search_spaces.available())
def test_define_trial_with_a_real_optuna_trial(name: str) -> None:
    space = search_spaces.load(name)
    study = optuna.create_study(direction="maximize", sampler=search_spaces.sampler_for(space, 0))
    for _ in range(4):
        trial = study.ask()
        config = define_trial(name, FIXED, trial)
        # define_trial returns the fixed settings and what the space holds; OptunaSearch adds
        # the suggested values (Ray's define-by-run contract).
        check_trial_config({**trial.params, **config})
        for key, value in trial.params.items():
            assert trial.distributions[key]._contains(
                trial.distributions[key].to_internal_repr(value)), key
        if name in SPACES:
            distributions, held = SPACES[name]
            assert trial.distributions == distributions
            assert config == {**FIXED, **held}
        study.tell(trial, 0.5)


@pytest.mark.parametrize("name", sorted(SPACES))
def test_optuna_search_suggests_as_build_tuner_builds_it(name: str) -> None:
    """The searcher of build_tuner, asked for trials and told results, without Ray."""
    space = search_spaces.load(name)
    searcher = OptunaSearch(space=partial(define_trial, name, FIXED), metric=OBJECTIVE,
                            mode="max", sampler=search_spaces.sampler_for(space, 0))
    distributions, held = SPACES[name]
    configs = []
    for index in range(5):
        config = searcher.suggest(f"t{index}")
        assert set(config) == set(FIXED) | set(distributions) | set(held)
        check_trial_config(config)
        searcher.on_trial_complete(f"t{index}", {OBJECTIVE: config["lam"]})
        configs.append(config)
    if name == "table2":  # the grid, each point once
        assert sorted(c["lam"] for c in configs) == [0.0, 0.25, 0.5, 0.75, 1.0]
    trials = searcher._ot_study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    assert [t.value for t in trials] == [c["lam"] for c in configs]


# ----------------------------------------------------------------------------- a real Tuner

def _scored(config: dict[str, Any]) -> float:
    """A known, distinct value per configuration."""
    return round(config["lam"] * 10 + config["seq_len"] / 1000 + (config["cell"] == "gru"), 6)


def _report_score(config: dict[str, Any], *, data: object, centroids: np.ndarray,
                  backbone_state: object) -> None:
    tune.report({OBJECTIVE: _scored(config), "target_video_acc": _scored(config), "epoch": 1})


@pytest.mark.slow  # a real Tuner on a local Ray
def test_optuna_sees_what_the_trials_report(local_ray: None, tmp_path: Path) -> None:
    settings = StudySettings(trials=3, epochs=1, space="paper", seed=0)
    resources = Resources(gpus=0, gpus_per_trial=1, cpus_per_trial=1, progress=False)
    layout = StudyLayout.create(tmp_path, "search")
    trainable = make_trainable(None, np.zeros((7, 4), np.float32), None, resources,
                               function=_report_score)
    fixed = fixed_config(settings, train_backbone=False, autocast=False)
    tuner = build_tuner(layout, settings, trainable, resources, cluster_cpus=2, fixed=fixed)
    results = tuner.fit()
    assert len(results) == 3 and not results.errors

    reported = {}
    for result in results:
        check_trial_config(result.config, fixed)
        assert result.metrics[OBJECTIVE] == _scored(result.config)
        reported[round(result.config["lam"], 12)] = (result.config, result.metrics[OBJECTIVE])
    assert len(reported) == 3  # three different suggestions

    # Optuna's own record, as Tune saved it with the experiment (what --resume restores).
    searcher = OptunaSearch()
    searcher.restore_from_dir(str(layout.root))
    trials = searcher._ot_study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for trial in trials:
        config, value = reported[round(trial.params["lam"], 12)]
        assert trial.value == value
        assert trial.params == {key: config[key] for key in SPACES["paper"][0]}


def test_repeat_key_is_the_key_rays_repeater_sets() -> None:
    """trainables.config spells Ray's key out, so that the library needs no Ray."""
    assert REPEAT_KEY == TRIAL_INDEX


def test_the_baselines_space_gives_every_method_the_same_budget() -> None:
    """Configuration k runs method k mod 5, so 10 trials are two of each, and each method's
    weight is suggested only in its own configurations."""
    space = search_spaces.load("baselines")
    study = optuna.create_study(direction="maximize", sampler=search_spaces.sampler_for(space, 0))
    methods = []
    for _ in range(space.DEFAULT_TRIALS):
        trial = study.ask()
        config = {**trial.params, **define_trial("baselines", FIXED, trial)}
        methods.append(config["method"])
        weights = {key for key in trial.params if key.endswith("_weight")}
        assert weights == ({f"{config['method']}_weight"}
                           if config["method"] in ("coral", "mmd", "dann") else set())
        study.tell(trial, 0.5)
    assert sorted(methods) == sorted(list(METHODS) * 2)
    assert search_spaces.space_parameters("baselines").fixed[0] == "method"


def test_a_searched_study_default_gives_way_to_the_suggestion() -> None:
    """--task va puts va_grid among the fixed settings; the va space searches it, and Ray's
    OptunaSearch lets define_trial's dict override suggestions: the suggestion must win."""
    from study.settings import new_settings

    fixed = fixed_config(new_settings({"task": "va", "space": "va"}), train_backbone=False,
                         autocast=False)
    assert fixed["va_grid"] == 20
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    grids = set()
    for _ in range(12):
        trial = study.ask()
        returned = define_trial("va", fixed, trial)
        config = {**trial.params, **returned}  # Ray's merge, after the space has run
        assert config["va_grid"] == trial.params["va_grid"]
        grids.add(config["va_grid"])
    assert len(grids) > 1
