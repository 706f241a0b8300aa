"""The combined loss of Section III, eqs. (5)-(9).

For sample ``m`` with outputs ``O_m`` (eq. 3), representation ``X_m`` (eq. 4), one-hot target
``D_m`` and class centroids ``Z_i`` (eq. 2):

* ``E_a = 1/(C M) sum_m sum_i (d_m^i - o_m^i)^2``                          (eq. 5)
* ``V_m^i = (Z_i - X_m)(Z_i - X_m)^T``                                      (eqs. 6-7)
* ``E_b = 1/(C M) sum_m sum_i (d_m^i - [1 - f(V_m^i)])^2``                  (eq. 8)
* ``E_tot = lam E_a + (1 - lam) E_b``                                       (eq. 9)

where ``f`` normalises the ``C`` distances of a sample by a softmax or by dividing by their sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainables.config import NORMALISATIONS


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


def normalise_distances(distances: Tensor, normalisation: str) -> Tensor:
    """``f`` of eq. (8) over the last (class) axis: ``"softmax"``, or ``"linear"`` (divide each
    distance by the sum of the sample's distances)."""
    if _check_normalisation(normalisation) == "softmax":
        return torch.softmax(distances, dim=-1)
    total = distances.sum(dim=-1, keepdim=True)
    # eps only keeps 0/0 (X_m equal to every centroid) finite; it is negligible otherwise.
    return distances / (total + torch.finfo(distances.dtype).eps)


def squared_distances(features: Tensor, centroids: Tensor) -> Tensor:
    """``V`` of eqs. (6)-(7): ``(..., n)``, ``(C, n)`` -> ``(..., C)``; ``V[m, i] = |Z_i - X_m|^2``.

    Computed from the differences ``Y`` directly (not ``|x|^2 - 2xz + |z|^2``), which stays exact
    and non-negative when ``X_m`` sits on a centroid.
    """
    differences = centroids - features.unsqueeze(-2)  # Y_m^i of eq. (6): (..., C, n)
    return differences.pow(2).sum(dim=-1)


def _flatten_inputs(
    outputs: Tensor, features: Tensor, targets: Tensor, centroids: Tensor, mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Flatten leading ``(B, L)`` dims and keep only real frames (mask True).

    Selecting rows (rather than multiplying by the mask) gives padded frames exactly zero
    gradient even if they hold NaN/inf or out-of-range targets.
    """
    num_classes = outputs.shape[-1]
    if centroids.dim() != 2 or centroids.shape != (num_classes, features.shape[-1]):
        raise ValueError(
            f"centroids must be (C={num_classes}, n={features.shape[-1]}), "
            f"got {tuple(centroids.shape)}"
        )
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
) -> tuple[Tensor, Tensor, Tensor]:
    """``(E_tot, E_a, E_b)`` of eqs. (9), (5) and (8).

    Shapes: outputs ``(M, C)``, features ``(M, n)``, targets ``(M,)`` class indices, centroids
    ``(C, n)`` in class order, optional mask ``(M,)`` (True = real frame); or ``(B, L, ...)``
    versions, whose leading dims are flattened. Masked frames are left out of the means.
    """
    lam = _check_lam(lam)
    _check_normalisation(normalisation)
    outputs, features, targets = _flatten_inputs(outputs, features, targets, centroids, mask)
    desired = F.one_hot(targets, outputs.shape[-1]).to(outputs.dtype)  # D_m
    error_a = _mean_square(desired, outputs)
    closeness = 1.0 - normalise_distances(squared_distances(features, centroids), normalisation)
    error_b = _mean_square(desired, closeness)
    return lam * error_a + (1.0 - lam) * error_b, error_a, error_b


def predict(
    outputs: Tensor, features: Tensor, centroids: Tensor, lam: float, normalisation: str
) -> Tensor:
    """Class scores ``lam O + (1 - lam)(1 - f(V))`` with the shape of ``outputs``.

    ``lam = 1`` is the output layer; ``lam = 0`` ranks classes by nearest centroid (``f`` is
    increasing in ``V``, so the argmax of ``1 - f(V)`` is the argmin of ``V``).
    """
    lam = _check_lam(lam)
    closeness = 1.0 - normalise_distances(squared_distances(features, centroids), normalisation)
    return lam * outputs + (1.0 - lam) * closeness


class CentroidLoss(nn.Module):
    """Combined loss ``E_tot = lam E_a + (1 - lam) E_b`` of eq. (9), with ``E_a`` (eq. 5) the MSE
    between outputs and one-hot targets and ``E_b`` (eq. 8) the MSE between the targets and
    ``1 - f(V)``, ``V`` the squared distances to the class centroids (eqs. 6-7).

    Inputs of :meth:`forward`: outputs ``(M, C)`` or ``(B, L, C)``; features ``(M, n)`` or
    ``(B, L, n)``; targets ``(M,)`` or ``(B, L)`` class indices; centroids ``(C, n)`` in class
    order; mask ``(M,)`` / ``(B, L)`` bool (True = real frame) or None.
    Returns ``(E_tot, E_a, E_b)``, scalars.
    """

    def __init__(self, lam: float, normalisation: str) -> None:
        super().__init__()
        self.lam = _check_lam(lam)
        self.normalisation = _check_normalisation(normalisation)

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
                          mask)

    def extra_repr(self) -> str:
        return f"lam={self.lam}, normalisation={self.normalisation!r}"
