"""The combined loss of Section III, eqs. (5)-(9).

For sample ``m`` with outputs ``O_m`` (eq. 3), representation ``X_m`` (eq. 4), one-hot target
``D_m`` and class centroids ``Z_i`` (eq. 2):

* ``E_a = 1/(C M) sum_m sum_i (d_m^i - o_m^i)^2``                          (eq. 5)
* ``V_m^i = (Z_i - X_m)(Z_i - X_m)^T``                                      (eqs. 6-7)
* ``E_b = 1/(C M) sum_m sum_i (d_m^i - [1 - f(V_m^i)])^2``                  (eq. 8)
* ``E_tot = lam E_a + (1 - lam) E_b``                                       (eq. 9)

where ``f`` normalises the ``C`` distances of a sample by a softmax or by dividing by their sum.
The softmax takes an optional distance temperature, ``f = softmax(V / tau)``; ``tau = 1`` (the
default, :data:`~trainables.config.DISTANCE_TEMPERATURE`) is the paper's eq. (8).

A class without a centroid (a valence-arousal cell that no target frame falls in: its row of
Z is NaN) is *dropped*: it has no ``V``, takes no part in ``f``'s normalisation, and adds no
term to ``E_b``, whose mean then runs over the ``C'`` classes that have one. Its score is
scored as if it were infinitely far (``f = 1``): no centroid is ever invented for it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainables.config import DISTANCE_TEMPERATURE, NORMALISATIONS


def _check_lam(lam: float) -> float:
    """``lam`` of eq. (9) must lie in ``[0, 1]``."""
    if not 0.0 <= float(lam) <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    return float(lam)


def _check_normalisation(normalisation: str) -> str:
    if normalisation not in NORMALISATIONS:
        raise ValueError(
            f"unknown normalisation {normalisation!r}; choose one of {', '.join(NORMALISATIONS)}"
        )
    return normalisation


def _check_tau(tau: float) -> float:
    """The distance temperature of ``f = softmax(V / tau)`` must be positive and finite."""
    if not (math.isfinite(float(tau)) and float(tau) > 0.0):
        raise ValueError(f"tau must be a positive, finite number, got {tau}")
    return float(tau)


def normalise_distances(
    distances: Tensor, normalisation: str, *, tau: float = DISTANCE_TEMPERATURE,
    kept: Tensor | None = None,
) -> Tensor:
    """``f`` of eq. (8) over the last (class) axis: ``"softmax"`` of ``V / tau``, or
    ``"linear"`` (divide each distance by the sum of the sample's distances).

    ``kept`` (``(C,)`` bool, optional) leaves the other classes out of the normalisation (their
    entries are then meaningless: callers mask them). ``tau = 1`` is the paper's softmax.
    With 128-d representations ``V`` (eqs. 6-7) is tens to a
    hundred, so that softmax is one-hot: a frame's own class gets ``f ~ exp(-80)`` and ``E_b`` no
    gradient towards it; a larger ``tau`` softens it. ``tau`` leaves ``"linear"`` unchanged
    (``(V / tau) / sum(V / tau) = V / sum(V)``), so it is only validated there.
    """
    tau = _check_tau(tau)
    if _check_normalisation(normalisation) == "softmax":
        scaled = distances / tau
        if kept is not None:  # dropped classes take no part: exp(-inf) = 0
            scaled = torch.where(kept, scaled, -torch.inf)
        return torch.softmax(scaled, dim=-1)
    total = (distances if kept is None else torch.where(kept, distances, 0.0)).sum(
        dim=-1, keepdim=True)
    # eps only keeps 0/0 (X_m equal to every centroid) finite; it is negligible otherwise.
    return distances / (total + torch.finfo(distances.dtype).eps)


def squared_distances(features: Tensor, centroids: Tensor) -> Tensor:
    """``V`` of eqs. (6)-(7): ``(..., n)``, ``(C, n)`` -> ``(..., C)``; ``V[m, i] = |Z_i - X_m|^2``.

    Computed from the differences ``Y`` directly (not ``|x|^2 - 2xz + |z|^2``), which stays exact
    and non-negative when ``X_m`` sits on a centroid.
    """
    differences = centroids - features.unsqueeze(-2)  # Y_m^i of eq. (6): (..., C, n)
    return differences.pow(2).sum(dim=-1)


def _check_centroids(centroids: Tensor, num_classes: int, dim: int) -> None:
    if centroids.shape != (num_classes, dim):
        raise ValueError(f"centroids must be (C={num_classes}, n={dim}), "
                         f"got {tuple(centroids.shape)}")


def kept_classes(centroids: Tensor) -> Tensor:
    """``(C,)`` bool: the classes that have a centroid (a NaN row marks a dropped class)."""
    return torch.isfinite(centroids).all(dim=-1)


def _flatten_inputs(
    outputs: Tensor, features: Tensor, targets: Tensor, centroids: Tensor, mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Flatten leading ``(B, L)`` dims and keep only real frames (mask True).

    Selecting rows (rather than multiplying by the mask) gives padded frames exactly zero
    gradient even if they hold NaN/inf or out-of-range targets.
    """
    num_classes = outputs.shape[-1]
    _check_centroids(centroids, num_classes, features.shape[-1])
    lead = outputs.shape[:-1]
    if features.shape[:-1] != lead or targets.shape != lead:
        raise ValueError(
            f"leading dims differ: outputs {tuple(outputs.shape)}, features "
            f"{tuple(features.shape)}, targets {tuple(targets.shape)}"
        )
    outputs = outputs.reshape(-1, num_classes)
    features = features.reshape(-1, features.shape[-1])
    targets = targets.reshape(-1)
    if mask is not None:
        if mask.shape != lead:
            raise ValueError(f"mask must have shape {tuple(lead)}, got {tuple(mask.shape)}")
        keep = mask.reshape(-1).to(torch.bool)
        outputs, features, targets = outputs[keep], features[keep], targets[keep]
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= num_classes):
        raise ValueError(f"targets must be class indices in [0, {num_classes - 1}]")
    return outputs, features, targets


def _mean_square(desired: Tensor, computed: Tensor) -> Tensor:
    """``1/(C M) sum (desired - computed)^2``; zero (with a graph) when ``M = 0``."""
    rows = max(desired.shape[0], 1)
    return (desired - computed).pow(2).sum() / (desired.shape[1] * rows)


def total_loss(
    outputs: Tensor,
    features: Tensor,
    targets: Tensor,
    centroids: Tensor,
    lam: float,
    normalisation: str,
    mask: Tensor | None = None,
    *,
    tau: float = DISTANCE_TEMPERATURE,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(E_tot, E_a, E_b)`` of eqs. (9), (5) and (8), ``f`` a softmax of ``V / tau`` or linear.

    Shapes: outputs ``(M, C)``, features ``(M, n)``, targets ``(M,)`` class indices, centroids
    ``(C, n)`` in class order, optional mask ``(M,)`` (True = real frame); or ``(B, L, ...)``
    versions, whose leading dims are flattened. Masked frames are left out of the means.
    ``tau = 1`` (the default) is the paper's eq. (8); see :func:`normalise_distances`.
    """
    lam = _check_lam(lam)
    _check_normalisation(normalisation)
    tau = _check_tau(tau)
    outputs, features, targets = _flatten_inputs(outputs, features, targets, centroids, mask)
    desired = F.one_hot(targets, outputs.shape[-1]).to(outputs.dtype)  # D_m
    error_a = _mean_square(desired, outputs)
    kept = kept_classes(centroids)
    if not bool(kept.all()):  # dropped classes: no V, no part in f, no term of E_b
        desired, centroids = desired[:, kept], centroids[kept]
    distances = squared_distances(features, centroids)
    closeness = 1.0 - normalise_distances(distances, normalisation, tau=tau)
    error_b = _mean_square(desired, closeness)
    return lam * error_a + (1.0 - lam) * error_b, error_a, error_b


def _scores_and_distances(
    outputs: Tensor, features: Tensor, centroids: Tensor, lam: float, normalisation: str, *,
    tau: float = DISTANCE_TEMPERATURE,
) -> tuple[Tensor, Tensor]:
    """``(lam O - (1 - lam) f(V), V)`` in float64; see :func:`predict`."""
    lam = _check_lam(lam)
    _check_normalisation(normalisation)
    tau = _check_tau(tau)
    _check_centroids(centroids, outputs.shape[-1], features.shape[-1])
    if features.shape[:-1] != outputs.shape[:-1]:
        raise ValueError(f"leading dims differ: outputs {tuple(outputs.shape)}, "
                         f"features {tuple(features.shape)}")
    features, centroids = features.to(torch.float64), centroids.to(torch.float64)
    # A dropped class (NaN row) is infinitely far: V = inf, f = 1 (never near, never NaN).
    # Masks, not a branch on the data, so that the ONNX export traces one graph; with every
    # class kept the numbers are those of the plain formulas.
    kept = kept_classes(centroids)
    distances = squared_distances(features, torch.where(kept[:, None], centroids, 0.0))
    normalised = torch.where(kept, normalise_distances(distances, normalisation, tau=tau,
                                                       kept=kept), 1.0)
    distances = torch.where(kept, distances, torch.inf)
    scores = torch.zeros_like(distances)  # a term of weight 0 is left out: inf there is no NaN
    if lam < 1.0:
        scores = scores - (1.0 - lam) * normalised
    if lam > 0.0:
        scores = scores + lam * outputs.to(torch.float64)
    return scores, distances


def predict(
    outputs: Tensor,
    features: Tensor,
    centroids: Tensor,
    lam: float,
    normalisation: str,
    *,
    tau: float = DISTANCE_TEMPERATURE,
) -> Tensor:
    """Float64 class scores ``lam O - (1 - lam) f(V)``, with the shape of ``outputs``: eq. (9)'s
    ``lam O + (1 - lam)(1 - f(V))`` (eqs. 5 and 8) less ``1 - lam``, which every class shares.

    Dropping that constant changes neither a frame's ranking nor that of a mean of frames' scores,
    but keeps ``f``'s precision: with 128-d representations ``V`` (eqs. 6-7) is tens to a hundred
    and most classes' softmax is below 1e-16, so ``1 - f(V)`` rounds to exactly 1 (even in
    float64) and those classes would tie. ``V`` and ``f`` are computed in float64, where ``f``
    keeps its relative precision down to ~1e-308. ``lam = 1`` gives ``O``; ``lam = 0`` gives
    ``-f(V)``, whose argmax is the nearest centroid (``f`` increases with ``V``).

    Store the scores as float64: float32 re-creates the ties. Classes still tie where their
    outputs are equal and their softmax underflows (``V / tau`` more than ~700 above the
    nearest); :func:`predict_classes` breaks such ties by ``V``.
    """
    return _scores_and_distances(outputs, features, centroids, lam, normalisation, tau=tau)[0]


def predict_classes(outputs: Tensor, features: Tensor, centroids: Tensor, lam: float,
                    normalisation: str, *, tau: float = DISTANCE_TEMPERATURE) -> Tensor:
    """The predicted class indices, ``outputs.shape[:-1]``: the argmax of :func:`predict`'s scores,
    equal scores resolved by the smaller distance ``V`` (eqs. 6-7), then the lower index.
    ``lam = 0`` is therefore always the nearest centroid (argmin ``V``), for either ``f``.

    Takes :func:`predict`'s arguments.
    """
    scores, distances = _scores_and_distances(outputs, features, centroids, lam, normalisation,
                                              tau=tau)
    tied = scores == scores.amax(dim=-1, keepdim=True)
    return torch.where(tied, distances, torch.inf).argmin(dim=-1)


class CentroidLoss(nn.Module):
    """Combined loss ``E_tot = lam E_a + (1 - lam) E_b`` of eq. (9), with ``E_a`` (eq. 5) the MSE
    between outputs and one-hot targets and ``E_b`` (eq. 8) the MSE between the targets and
    ``1 - f(V)``, ``V`` the squared distances to the class centroids (eqs. 6-7), ``f`` a softmax
    of ``V / tau`` (``tau = 1``, the default, is the paper's) or linear.

    Inputs of :meth:`forward`: outputs ``(M, C)`` or ``(B, L, C)``; features ``(M, n)`` or
    ``(B, L, n)``; targets ``(M,)`` or ``(B, L)`` class indices; centroids ``(C, n)`` in class
    order; mask ``(M,)`` / ``(B, L)`` bool (True = real frame) or None.
    Returns ``(E_tot, E_a, E_b)``, scalars.
    """

    def __init__(
        self, lam: float, normalisation: str, *, tau: float = DISTANCE_TEMPERATURE
    ) -> None:
        super().__init__()
        self.lam = _check_lam(lam)
        self.normalisation = _check_normalisation(normalisation)
        self.tau = _check_tau(tau)

    def forward(
        self,
        outputs: Tensor,
        features: Tensor,
        targets: Tensor,
        centroids: Tensor,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """See :func:`total_loss`."""
        return total_loss(outputs, features, targets, centroids, self.lam, self.normalisation,
                          mask, tau=self.tau)

    def extra_repr(self) -> str:
        return f"lam={self.lam}, normalisation={self.normalisation!r}, tau={self.tau}"
