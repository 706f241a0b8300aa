"""Unsupervised alignment of source and target representations ``X`` (the baselines beside the
centroid loss of eq. 9): Deep CORAL, multi-kernel MMD (DAN) and DANN's domain classifier.

Inputs are frame representations ``X`` of both domains, ``(M_s, n)`` and ``(M_t, n)`` (``n =
128``; padded frames already removed); every loss returns an unweighted scalar that the training
loop adds, times its weight, to ``E_a`` (eq. 5). The code is our own: pytorch-adapt 0.0.83 would
replace torch 2.13 by 2.14 (and add torchvision), and skada 0.6's deep losses need skorch and POT
and use another MMD kernel (``exp(-|a - b| / sigma)``, median bandwidth) than DAN's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainables.config import ALIGNMENT_WEIGHTS, METHODS

#: Methods that add an alignment loss (the keys of ALIGNMENT_WEIGHTS).
ALIGNED_METHODS: tuple[str, ...] = tuple(ALIGNMENT_WEIGHTS)


def _check_domains(source: Tensor, target: Tensor, min_rows: int) -> None:
    """Both domains are ``(M, n)`` floating tensors with the same ``n`` and ``M >= min_rows``."""
    for name, x in (("source", source), ("target", target)):
        if x.dim() != 2 or not x.is_floating_point():
            raise ValueError(f"{name} must be a floating (M, n) tensor, got {tuple(x.shape)} "
                             f"{x.dtype}")
        if x.shape[0] < min_rows:
            raise ValueError(f"{name} needs at least {min_rows} rows, got {x.shape[0]}")
    if source.shape[1] != target.shape[1]:
        raise ValueError(f"source and target differ in width: {source.shape[1]} != "
                         f"{target.shape[1]}")


def _covariance(x: Tensor) -> Tensor:
    """Eqs. (2)-(3) of Sun & Saenko: the unbiased ``(n, n)`` covariance of the rows of ``x``,
    ``1/(M-1) (D - mean)^T (D - mean)`` (the centred form of ``D^T D - (1^T D)^T (1^T D) / M``,
    which cancels less)."""
    centred = x - x.mean(dim=0, keepdim=True)
    return centred.T @ centred / (x.shape[0] - 1)


def coral_loss(source: Tensor, target: Tensor) -> Tensor:
    """Deep CORAL, Sun & Saenko (ECCV-W 2016) eq. (1): ``1/(4 d^2) |C_S - C_T|_F^2``.

    ``source`` ``(M_s, n)``, ``target`` ``(M_t, n)`` with ``M_s, M_t >= 2``; ``d = n``; ``C`` the
    unbiased covariances of eqs. (2)-(3). Returns a differentiable scalar in the inputs' dtype.
    """
    _check_domains(source, target, min_rows=2)
    dim = source.shape[1]
    difference = _covariance(source) - _covariance(target)
    return difference.pow(2).sum() / (4 * dim * dim)


def mmd_loss(
    source: Tensor,
    target: Tensor,
    *,
    kernel_mul: float = 2.0,
    kernel_num: int = 5,
    base_bandwidth: float | None = None,
) -> Tensor:
    """Squared multi-kernel MMD of DAN, Long et al. (ICML 2015) eqs. (3)-(4), as the biased
    (V-statistic) estimate of Gretton et al. (JMLR 2012) eq. (3):

    ``MMD^2 = mean_{s,s'} k(s, s') + mean_{t,t'} k(t, t') - 2 mean_{s,t} k(s, t)``,
    ``k(a, b) = sum_i exp(-|a - b|^2 / h_i)``, ``h_i = base * kernel_mul^(i - kernel_num // 2)``
    for ``i = 0 .. kernel_num - 1``.

    ``base`` is the mean squared distance between distinct rows of the pooled sample (``sum /
    (N^2 - N)``, ``N = M_s + M_t``), computed without gradient as in DAN's released code, unless
    ``base_bandwidth`` fixes it. ``M_s`` and ``M_t`` may differ (each >= 1). The sums run in
    float64 on the sample centred on its pooled mean (distances are unchanged), since ``MMD^2``
    is a small difference of kernel means of order one; the result has the inputs' dtype.
    """
    _check_domains(source, target, min_rows=1)
    if not (math.isfinite(kernel_mul) and kernel_mul > 0.0):
        raise ValueError(f"kernel_mul must be positive and finite, got {kernel_mul}")
    if kernel_num < 1:
        raise ValueError(f"kernel_num must be >= 1, got {kernel_num}")
    dtype = torch.promote_types(source.dtype, target.dtype)
    pooled = torch.cat([source, target]).to(torch.float64)
    pooled = pooled - pooled.detach().mean(dim=0, keepdim=True)
    squared_norms = pooled.pow(2).sum(dim=1)
    distances = (squared_norms[:, None] + squared_norms[None, :] - 2.0 * pooled @ pooled.T)
    distances = distances.clamp_min(0.0)  # rounding can leave tiny negatives off the diagonal
    count = pooled.shape[0]
    if base_bandwidth is None:
        base = float(distances.detach().sum()) / max(count * count - count, 1)
    else:
        base = float(base_bandwidth)
        if not (math.isfinite(base) and base > 0.0):
            raise ValueError(f"base_bandwidth must be positive and finite, got {base_bandwidth}")
    # All rows equal: every kernel is 1 whatever the bandwidth and MMD^2 = 0; avoid 0 / 0.
    base = max(base, torch.finfo(torch.float64).tiny)
    kernels = torch.zeros_like(distances)
    for i in range(kernel_num):
        kernels = kernels + torch.exp(-distances / (base * kernel_mul ** (i - kernel_num // 2)))
    ms = source.shape[0]
    loss = (kernels[:ms, :ms].mean() + kernels[ms:, ms:].mean()
            - 2.0 * kernels[:ms, ms:].mean())
    return loss.to(dtype)


class GradientReversal(torch.autograd.Function):
    """The gradient reversal layer of Ganin et al. (JMLR 2016) Sec. 5.2, ``R_lambda``: identity
    forward, gradient times ``-coefficient`` backward."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor,  # type: ignore[override]
                coefficient: float) -> Tensor:
        ctx.coefficient = coefficient  # type: ignore[attr-defined]
        return x.view_as(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx,  # type: ignore[override]
                 grad_output: Tensor) -> tuple[Tensor, None]:
        return -ctx.coefficient * grad_output, None  # type: ignore[attr-defined]


def reverse_gradient(x: Tensor, coefficient: float) -> Tensor:
    """``x`` unchanged forward; the gradient reaching ``x`` is ``-coefficient`` times the one
    leaving it (``coefficient`` finite, usually :func:`dann_coefficient`)."""
    if not math.isfinite(float(coefficient)):
        raise ValueError(f"coefficient must be finite, got {coefficient}")
    return GradientReversal.apply(x, float(coefficient))


def dann_coefficient(progress: float, gamma: float = 10.0) -> float:
    """``lambda_p = 2 / (1 + exp(-gamma p)) - 1`` of Ganin et al. (JMLR 2016) Sec. 5.2.2, with
    training progress ``p`` clipped to ``[0, 1]``: 0 at the start, ``0.99991`` at the end."""
    if not math.isfinite(float(progress)):
        raise ValueError(f"progress must be finite, got {progress}")
    if not (math.isfinite(float(gamma)) and gamma >= 0.0):
        raise ValueError(f"gamma must be finite and >= 0, got {gamma}")
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-float(gamma) * p)) - 1.0


class DomainClassifier(nn.Module):
    """Ganin et al.'s domain classifier (two hidden ReLU layers, smaller): ``(M, features)`` ->
    logits ``(M,)`` of "from the source", behind a gradient reversal layer."""

    def __init__(self, features: int, hidden: int = 128) -> None:
        super().__init__()
        if features < 1 or hidden < 1:
            raise ValueError(f"features and hidden must be >= 1, got {features}, {hidden}")
        self.layers = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: Tensor, coefficient: float) -> Tensor:
        return self.layers(reverse_gradient(x, coefficient)).squeeze(-1)


def dann_loss(
    classifier: DomainClassifier, source: Tensor, target: Tensor, coefficient: float
) -> Tensor:
    """The domain loss of Ganin et al. (JMLR 2016) eqs. (9)-(10): binary cross-entropy of the
    classifier's logits, source labelled 1 and target 0 (the paper's labels swapped; the loss is
    symmetric), each domain's mean weighted equally, ``0.5 (mean_s L_d + mean_t L_d)``.

    Minimising ``E_a`` plus this with one optimiser over network and classifier trains the
    classifier to tell the domains apart while the reversal (``coefficient``) makes the feature
    extractor maximise the same loss.
    """
    _check_domains(source, target, min_rows=1)
    source_logits = classifier(source, coefficient)
    target_logits = classifier(target, coefficient)
    source_loss = F.binary_cross_entropy_with_logits(
        source_logits, torch.ones_like(source_logits))
    target_loss = F.binary_cross_entropy_with_logits(
        target_logits, torch.zeros_like(target_logits))
    return 0.5 * (source_loss + target_loss)


def _check_weight(weight: float) -> float:
    if not (math.isfinite(float(weight)) and float(weight) >= 0.0):
        raise ValueError(f"alignment weight must be finite and >= 0, got {weight}")
    return float(weight)


class Alignment(nn.Module):
    """One alignment loss for the training loop: ``forward(source, target, progress)`` returns
    the UNWEIGHTED loss (the loop multiplies it by ``weight``); ``progress`` in ``[0, 1]`` only
    drives DANN's coefficient. ``domain_classifier`` exists for ``"dann"`` only; its parameters
    belong in the network's optimiser."""

    def __init__(self, method: str, weight: float, features: int) -> None:
        super().__init__()
        if method not in ALIGNED_METHODS:
            raise ValueError(
                f"unknown alignment method {method!r}; choose one of {', '.join(ALIGNED_METHODS)}"
            )
        self.method = method
        self.weight = _check_weight(weight)
        if method == "dann":
            self.domain_classifier = DomainClassifier(features)

    def forward(self, source: Tensor, target: Tensor, progress: float) -> Tensor:
        if self.method == "coral":
            return coral_loss(source, target)
        if self.method == "mmd":
            return mmd_loss(source, target)
        return dann_loss(self.domain_classifier, source, target, dann_coefficient(progress))

    def extra_repr(self) -> str:
        return f"method={self.method!r}, weight={self.weight}"


def make_alignment(method: str, weight: float | None, features: int) -> Alignment | None:
    """The :class:`Alignment` of a ``config["method"]``: ``None`` for ``"centroid"`` and
    ``"source_only"`` (no alignment loss); ``weight=None`` takes ALIGNMENT_WEIGHTS[method]."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method not in ALIGNED_METHODS:
        return None
    return Alignment(method, ALIGNMENT_WEIGHTS[method] if weight is None else weight, features)
