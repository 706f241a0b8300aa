"""Re-evaluating a trial at its selected epoch (its checkpoint keeps those weights).

The data are opened as the driver opens them (:mod:`study.inputs`: the same CNN, splits and
fingerprint); CNN features missing from the cache are computed on this process, so no Ray
cluster is needed.

In a valence-arousal study (issue #14) a trial's classes are the cells of its own grid
(``va_grid``, :func:`trainables.dimensional.trial_grid`): its splits are relabelled for that
grid and its Z is NetB's for it, as the trainable makes them (``netb/centroids.json`` for the
study's own grid, else cell means of NetB's U of the target frames,
``netb/target_representations.npy``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch

from study.inputs import Backbone, StudyInputs, features_here
from study.layout import read_json, relative
from study.report.records import Study, TrialRecord
from trainables.checkpoint import load_weights, selected_weights
from trainables.config import SOURCE, TARGET
from trainables.dimensional import cell_centroids, is_dimensional, relabel, trial_grid
from trainables.engine import DeviceSplit, Evaluation, SplitArrays, StudyArrays, evaluate
from trainables.errors import UserInputError
from trainables.neta import trial_lam, trial_normalisation, trial_tau
from trainables.network import NetworkSettings, build_network
from trainables.va import VAGrid


class Evaluator:
    """Scores and representations X (eq. 4) of a trial's kept checkpoint on a split.

    The splits come from the study's own frame/feature caches. Loaded on first use;
    ``problem`` says why it cannot be, e.g. when the data changed since the study ran.
    ``data`` (and ``backbone_state``) given here are used as they are, without reading
    anything; so are ``z`` (Z of the study's grid in a valence-arousal study) and
    ``netb_representations`` (NetB's U of the target frames, valence-arousal only).
    """

    def __init__(self, study: Study, data: StudyArrays | None = None,
                 backbone_state: dict[str, torch.Tensor] | None = None,
                 z: np.ndarray | None = None,
                 netb_representations: np.ndarray | None = None) -> None:
        self.study = study
        self._data = data
        self._backbone_state = backbone_state
        self._cache: dict[tuple[str, str], Evaluation] = {}
        self._relabelled: dict[tuple[str, int], SplitArrays] = {}
        self._grid_z: dict[int, np.ndarray] = {}
        if z is not None:
            self.__dict__["z"] = np.asarray(z, dtype=np.float32)
        if netb_representations is not None:
            self.__dict__["netb_representations"] = np.asarray(netb_representations,
                                                                dtype=np.float32)

    @functools.cached_property
    def problem(self) -> str | None:
        """None once the data is loaded; else why it cannot be."""
        if self._data is not None:
            return None
        return self._load()

    @functools.cached_property
    def z(self) -> np.ndarray:
        """NetB's class centroids Z (eq. 2), rows in class order (a dropped valence-arousal
        cell's row, written as nulls, is NaN)."""
        return np.asarray(read_json(self.study.layout.centroids_file)["centroids"],
                          dtype=np.float32)

    @functools.cached_property
    def netb_representations(self) -> np.ndarray:
        """NetB's U of every target frame (valence-arousal studies keep them)."""
        return np.load(self.study.layout.netb_representations)

    @property
    def dimensional(self) -> bool:
        """Whether the study's splits carry valence and arousal (loaded data only)."""
        return self._data is not None and is_dimensional(self._data)

    def grid(self, trial: TrialRecord | None = None) -> VAGrid:
        """The valence-arousal grid of ``trial`` (the study's own without a trial)."""
        return trial_grid(trial.config if trial is not None
                          else {"va_grid": self.study.settings.va_grid})

    def z_for(self, trial: TrialRecord) -> np.ndarray:
        """The Z ``trial`` trained towards: NetB's (a valence-arousal trial: for its grid;
        NaN rows for cells without a target frame)."""
        if not self.dimensional:
            return self.z
        size = self.grid(trial).size
        if size == self.study.settings.va_grid:  # centroids.json holds this grid's Z
            return self.z
        if size not in self._grid_z:
            labels = self.arrays(TARGET, trial).frame_labels
            self._grid_z[size] = cell_centroids(self.netb_representations, labels,
                                                size**2).centroids.astype(np.float32)
        return self._grid_z[size]

    def _load(self) -> str | None:
        settings = self.study.settings
        if not self.study.layout.centroids_file.exists():
            return f"NetB's centroids ({relative(self.study.layout.centroids_file)}) are missing"
        try:
            inputs = StudyInputs.read(settings, Backbone.for_study(settings), progress=False)
        except (UserInputError, OSError) as error:
            return f"the study's data cannot be read ({error})"
        if inputs.fingerprint != self.study.stored.get("fingerprint"):
            return ("the data or backbone weights no longer match the study's fingerprint in "
                    "study.json")
        try:
            self._data = inputs.arrays(settings, features_here(progress=False))
        except UserInputError as error:
            return f"the study's splits cannot be rebuilt ({error})"
        self._backbone_state = inputs.backbone_state
        return None

    def network(self, trial: TrialRecord, inputs: SplitArrays | None = None) -> torch.nn.Module:
        """NetA with the weights of the trial's selected epoch, for inputs of the kind and
        width of ``inputs`` (the study's source split, with the trial's classes, by
        default); a frozen backbone (never in a checkpoint) is the study's own."""
        assert trial.checkpoint is not None
        network = build_network(NetworkSettings.from_config(trial.config),
                                self.arrays(SOURCE, trial) if inputs is None else inputs,
                                self._backbone_state, trial.config.get("train_backbone", False))
        load_weights(network, selected_weights(trial.checkpoint))
        return network

    def evaluate(self, trial: TrialRecord, role: str) -> Evaluation:
        """``trainables.engine.evaluate`` of the trial's kept checkpoint on ``role``'s split."""
        key = (trial.trial_id, role)
        if key not in self._cache:
            self._cache[key] = self.score(trial, self.arrays(role, trial))
        return self._cache[key]

    def score(self, trial: TrialRecord, arrays: SplitArrays) -> Evaluation:
        """``trainables.engine.evaluate`` of the trial's kept checkpoint on any videos in the
        trial's classes (valence-arousal: its grid's cells) and the study's input kind: the
        trial's lam, normalisation, tau, window length (``seq_len``) and batch size, Z from
        NetB (:meth:`z_for`)."""
        settings = NetworkSettings.from_config(trial.config)
        split = DeviceSplit.create(arrays, torch.device("cpu"))
        return evaluate(self.network(trial, arrays), split, torch.as_tensor(self.z_for(trial)),
                        lam=trial_lam(trial.config),
                        normalisation=trial_normalisation(trial.config),
                        tau=trial_tau(trial.config),
                        seq_len=settings.seq_len, batch_size=settings.batch_size)

    def arrays(self, role: str, trial: TrialRecord | None = None) -> SplitArrays:
        """``role``'s split; in a valence-arousal study relabelled with the cells of
        ``trial``'s grid (the study's own grid without a trial)."""
        assert self._data is not None
        arrays = self._data.roles()[role]
        if not self.dimensional:
            return arrays
        key = (role, self.grid(trial).size)
        if key not in self._relabelled:
            self._relabelled[key] = relabel(arrays, self.grid(trial))
        return self._relabelled[key]

    def has(self, role: str) -> bool:
        return self._data is not None and role in self._data.roles()


def unusable(evaluator: Evaluator, trials: Sequence[TrialRecord | None]) -> str | None:
    """Why these trials' checkpoints cannot be evaluated, or None when they can."""
    present = [t for t in trials if t is not None]
    if not present:
        return "no trial has reported a result yet"
    lacking = sorted({t.trial_id for t in present if t.checkpoint is None})
    if lacking:
        return f"no checkpoint of the selected epoch on disk for trial(s) {', '.join(lacking)}"
    return evaluator.problem
