"""The loss of eqs. (5)-(9) against an independent, loop-by-loop reference."""

from __future__ import annotations

import decimal
import math

import numpy as np
import optuna
import pytest
import torch

import search_spaces
from trainables.config import DISTANCE_TEMPERATURE, NORMALISATIONS
from trainables.loss import (
    CentroidLoss,
    normalise_distances,
    predict,
    predict_classes,
    squared_distances,
    total_loss,
)

M, C, N = 6, 4, 3


def reference_loss(outputs, features, targets, centroids, lam, normalisation, tau=1.0):
    """Eqs. (5)-(9) written out literally, one scalar at a time (autograd still flows); the
    softmax of eq. (8) over ``V / tau``."""
    samples, classes = outputs.shape
    error_a = outputs.new_zeros(())
    error_b = outputs.new_zeros(())
    for m in range(samples):
        distances = []
        for i in range(classes):
            y = [centroids[i, k] - features[m, k] for k in range(features.shape[1])]  # eq. (6)
            distances.append(sum(component * component for component in y))           # eq. (7)
        if normalisation == "softmax":
            exps = [torch.exp(v / tau) for v in distances]
            normalised = [e / sum(exps) for e in exps]
        else:
            normalised = [v / sum(distances) for v in distances]
        for i in range(classes):
            desired = 1.0 if int(targets[m]) == i else 0.0
            error_a = error_a + (desired - outputs[m, i]) ** 2                  # eq. (5)
            error_b = error_b + (desired - (1.0 - normalised[i])) ** 2          # eq. (8)
    error_a = error_a / (classes * samples)
    error_b = error_b / (classes * samples)
    return lam * error_a + (1 - lam) * error_b, error_a, error_b                # eq. (9)


def make_inputs(seed: int = 0, samples: int = M):
    generator = torch.Generator().manual_seed(seed)
    outputs = torch.randn(samples, C, generator=generator, dtype=torch.float64)
    features = 0.7 * torch.randn(samples, N, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, C, (samples,), generator=generator)
    centroids = torch.randn(C, N, generator=generator, dtype=torch.float64)
    return outputs.requires_grad_(), features.requires_grad_(), targets, centroids


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_matches_reference_values_and_gradients(normalisation: str, lam: float) -> None:
    outputs, features, targets, centroids = make_inputs()
    got = total_loss(outputs, features, targets, centroids, lam, normalisation)
    expected = reference_loss(outputs, features, targets, centroids, lam, normalisation)
    for value, reference in zip(got, expected, strict=True):
        torch.testing.assert_close(value, reference, rtol=1e-10, atol=1e-12)
    got_grads = torch.autograd.grad(got[0], (outputs, features))
    expected_grads = torch.autograd.grad(expected[0], (outputs, features))
    for value, reference in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(value, reference, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
def test_gradients_match_finite_differences(normalisation: str) -> None:
    outputs, features, targets, centroids = make_inputs(seed=1)
    centroids.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda o, x, z: total_loss(o, x, targets, z, 0.4, normalisation)[0],
        (outputs, features, centroids),
    )


def test_error_a_is_plain_mse_against_one_hot() -> None:
    outputs, features, targets, centroids = make_inputs(seed=2)
    one_hot = torch.zeros(M, C, dtype=torch.float64)
    one_hot[torch.arange(M), targets] = 1.0
    _, error_a, _ = total_loss(outputs, features, targets, centroids, 0.5, "softmax")
    torch.testing.assert_close(error_a, torch.mean((one_hot - outputs) ** 2))


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
def test_lam_endpoints_select_one_term(normalisation: str) -> None:
    outputs, features, targets, centroids = make_inputs(seed=3)
    inputs = (outputs, features, targets, centroids)
    at_zero, error_a, error_b = total_loss(*inputs, 0.0, normalisation)
    at_one, _, _ = total_loss(*inputs, 1.0, normalisation)
    assert torch.equal(at_zero, error_b)
    assert torch.equal(at_one, error_a)
    assert not torch.isclose(error_a, error_b)


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
def test_mask_excludes_padded_frames(normalisation: str) -> None:
    outputs, features, targets, centroids = make_inputs(seed=4, samples=8)
    mask = torch.tensor([True, False, True, True, False, True, True, False])
    masked = total_loss(outputs, features, targets, centroids, 0.5, normalisation, mask=mask)
    subset = total_loss(outputs[mask], features[mask], targets[mask], centroids, 0.5,
                        normalisation)
    for value, reference in zip(masked, subset, strict=True):
        torch.testing.assert_close(value, reference)

    # Garbage in the padded frames (huge values, NaN, invalid targets) changes nothing.
    padded_outputs = outputs.detach().clone()
    padded_features = features.detach().clone()
    padded_targets = targets.clone()
    padded_outputs[~mask] = 1e6
    padded_features[~mask] = float("nan")
    padded_targets[~mask] = -1
    padded_outputs.requires_grad_()
    padded_features.requires_grad_()
    again = total_loss(padded_outputs, padded_features, padded_targets, centroids, 0.5,
                       normalisation, mask=mask)
    torch.testing.assert_close(again[0], masked[0])
    grad_outputs, grad_features = torch.autograd.grad(again[0], (padded_outputs, padded_features))
    assert torch.all(grad_outputs[~mask] == 0) and torch.all(grad_features[~mask] == 0)
    assert torch.any(grad_outputs[mask] != 0) and torch.any(grad_features[mask] != 0)


def test_all_masked_batch_gives_zero_that_backpropagates() -> None:
    outputs, features, targets, centroids = make_inputs(seed=5)
    mask = torch.zeros(M, dtype=torch.bool)
    losses = total_loss(outputs, features, targets, centroids, 0.5, "linear", mask=mask)
    assert all(value.item() == 0.0 for value in losses)
    grads = torch.autograd.grad(losses[0], (outputs, features))
    assert all(torch.all(grad == 0) for grad in grads)


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
def test_batch_by_length_shapes_are_flattened(normalisation: str) -> None:
    outputs, features, targets, centroids = make_inputs(seed=6, samples=6)
    mask = torch.tensor([True, True, False, True, True, True])
    flat = total_loss(outputs, features, targets, centroids, 0.7, normalisation, mask=mask)
    shaped = total_loss(outputs.reshape(2, 3, C), features.reshape(2, 3, N), targets.reshape(2, 3),
                        centroids, 0.7, normalisation, mask=mask.reshape(2, 3))
    for value, reference in zip(shaped, flat, strict=True):
        torch.testing.assert_close(value, reference)
    module = CentroidLoss(0.7, normalisation)
    torch.testing.assert_close(
        module(outputs.reshape(3, 2, C), features.reshape(3, 2, N), targets.reshape(3, 2),
               centroids, mask.reshape(3, 2))[0],
        flat[0],
    )


def test_squared_distances_and_normalisation() -> None:
    features = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    centroids = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    distances = squared_distances(features, centroids)
    torch.testing.assert_close(distances, torch.tensor([[0.0, 25.0, 1.0], [5.0, 8.0, 4.0]]))
    linear = normalise_distances(distances, "linear")
    torch.testing.assert_close(linear[1], torch.tensor([5.0, 8.0, 4.0]) / 17.0)
    zeros = normalise_distances(torch.zeros(2, 3), "linear")
    assert torch.equal(zeros, torch.zeros(2, 3))


def reference_softmax(row: list[float], tau: float = 1.0) -> list[float]:
    """``exp(v_i / tau) / sum_j exp(v_j / tau)`` in python floats (shifted by the largest ``v``,
    which cancels, so that ``exp`` cannot overflow)."""
    largest = max(row)
    exps = [math.exp((v - largest) / tau) for v in row]
    return [e / math.fsum(exps) for e in exps]


@pytest.mark.parametrize("tau", [1.0, 0.5, 4.0, 300.0])
def test_softmax_matches_an_independent_reference(tau: float) -> None:
    rows = [[0.0, 25.0, 1.0], [5.0, 8.0, 4.0], [12.5, 93.0, 47.25], [-3.0, 0.0, 700.0]]
    got = normalise_distances(torch.tensor(rows, dtype=torch.float64), "softmax", tau=tau)
    expected = torch.tensor([reference_softmax(row, tau) for row in rows], dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=1e-13, atol=0.0)


def test_predict_endpoints() -> None:
    outputs, features, _, centroids = make_inputs(seed=7, samples=20)
    for normalisation in NORMALISATIONS:
        assert torch.equal(predict(outputs, features, centroids, 1.0, normalisation), outputs)
        scores = predict(outputs, features, centroids, 0.0, normalisation)
        points = features.detach()
        nearest = [
            min(range(C), key=lambda i, m=m: float(torch.linalg.norm(centroids[i] - points[m])))
            for m in range(points.shape[0])
        ]
        assert scores.argmax(dim=1).tolist() == nearest
        assert predict_classes(outputs, features, centroids, 0.0, normalisation).tolist() \
            == nearest
    shaped = predict(outputs.reshape(4, 5, C), features.reshape(4, 5, N), centroids, 0.5, "linear")
    assert shaped.shape == (4, 5, C) and shaped.dtype == torch.float64
    classes = predict_classes(outputs.reshape(4, 5, C), features.reshape(4, 5, N), centroids, 0.5,
                              "linear")
    assert classes.shape == (4, 5) and classes.dtype == torch.int64


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("tau", [1.0, 2.5])
def test_predict_is_eq_9_scores_less_a_shared_constant(normalisation: str, lam: float,
                                                       tau: float) -> None:
    """Scores are ``lam O + (1 - lam)(1 - f(V))`` less ``1 - lam``, ``f`` written out per sample."""
    outputs, features, _, centroids = make_inputs(seed=8, samples=10)
    outputs, features = outputs.detach(), features.detach()
    expected = []
    for m in range(outputs.shape[0]):
        row = [float(((centroids[i] - features[m]) ** 2).sum()) for i in range(C)]
        f = reference_softmax(row, tau) if normalisation == "softmax" else \
            [v / math.fsum(row) for v in row]
        expected.append([lam * float(outputs[m, i]) + (1 - lam) * (1 - f[i]) for i in range(C)])
    got = predict(outputs, features, centroids, lam, normalisation, tau=tau)
    torch.testing.assert_close(got + (1 - lam), torch.tensor(expected, dtype=torch.float64),
                               rtol=1e-12, atol=1e-12)


# -- realistic scale: 128-d representations, squared distances of 10 to 100 (issue #9) ---------

REAL_FRAMES, REAL_CLASSES, REAL_DIM = 2000, 7, 128


def realistic_case(outputs_kind: str) -> tuple[torch.Tensor, ...]:
    """Float32 frames at their class centroid plus noise (sd 0.3); centroids ``0.9 tanh(N(0, 1))``,
    so a frame's squared distance is ~10 to its own centroid and ~90 to the others."""
    generator = torch.Generator().manual_seed(9)
    centroids = 0.9 * torch.tanh(torch.randn(REAL_CLASSES, REAL_DIM, generator=generator))
    labels = torch.randint(0, REAL_CLASSES, (REAL_FRAMES,), generator=generator)
    features = centroids[labels] + 0.3 * torch.randn(REAL_FRAMES, REAL_DIM, generator=generator)
    outputs = torch.zeros(REAL_FRAMES, REAL_CLASSES) if outputs_kind == "zeros" else \
        torch.rand(REAL_FRAMES, REAL_CLASSES, generator=generator)
    return outputs, features, centroids, labels


def reference_classes(outputs: torch.Tensor, features: torch.Tensor, centroids: torch.Tensor,
                      lams: list[float], normalisation: str) -> dict[float, list[int]]:
    """Per lam, the argmax of eq. (9)'s ``lam O + (1 - lam)(1 - f(V))`` (tau = 1), with
    ``1 - f_i = sum_{j != i} f_j`` evaluated in 100-digit decimal arithmetic: far classes' ``f`` is
    ~1e-40, so ``1 - f`` is 1 in any binary float format and only many digits rank them."""
    x = features.numpy().astype(np.float64)
    z = centroids.numpy().astype(np.float64)
    distances = ((z[None, :, :] - x[:, None, :]) ** 2).sum(axis=2)  # eqs. (6)-(7), exact-ish
    context = decimal.Context(prec=100)
    classes: dict[float, list[int]] = {lam: [] for lam in lams}
    for m, row in enumerate(distances.tolist()):
        values = [decimal.Decimal(v) for v in row]
        if normalisation == "softmax":
            largest = max(values)
            weights = [context.exp(context.subtract(v, largest)) for v in values]
        else:
            weights = values
        total = sum(weights, decimal.Decimal(0))
        closeness = [context.divide(total - w, total) for w in weights]  # sum_{j != i} f_j
        for lam in lams:
            weight = decimal.Decimal(lam)
            scores = [context.add(context.multiply(weight, decimal.Decimal(float(o))),
                                  context.multiply(1 - weight, c))
                      for o, c in zip(outputs[m].tolist(), closeness, strict=True)]
            ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
            assert scores[ranked[0]] > scores[ranked[1]], "the reference itself ties"
            classes[lam].append(ranked[0])
    return classes


@pytest.mark.parametrize("outputs_kind", ["zeros", "random"])
@pytest.mark.parametrize("normalisation", NORMALISATIONS)
def test_prediction_at_realistic_scale_matches_exact_ranking(normalisation: str,
                                                             outputs_kind: str) -> None:
    outputs, features, centroids, labels = realistic_case(outputs_kind)
    distances = squared_distances(features, centroids)
    assert 5.0 < float(distances.min()) and float(distances.max()) < 150.0
    nearest = distances.argmin(dim=1)
    assert torch.equal(nearest, labels)  # the data are separable by nearest centroid
    lams = [0.0, 0.25, 0.5, 0.75]
    expected = reference_classes(outputs, features, centroids, lams, normalisation)
    assert expected[0.0] == nearest.tolist()
    for lam in lams:
        scores = predict(outputs, features, centroids, lam, normalisation)
        assert scores.dtype == torch.float64
        got = scores.argmax(dim=1).tolist()
        mismatches = sum(g != e for g, e in zip(got, expected[lam], strict=True))
        assert mismatches == 0, f"lam={lam}: predict argmax differs on {mismatches} frames"
        classes = predict_classes(outputs, features, centroids, lam, normalisation)
        assert classes.tolist() == expected[lam], f"lam={lam}: predict_classes differs"


def test_predict_classes_breaks_underflow_ties_by_distance() -> None:
    """Classes whose softmax underflows even in float64 tie in the scores; the smaller V wins."""
    centroids = torch.tensor([[60.0], [45.0], [44.0], [0.0]])  # V: 3600, 2025, 1936, 0
    features = torch.zeros(1, 1)
    outputs = torch.zeros(1, 4)
    scores = predict(outputs, features, centroids, 0.5, "softmax")
    assert scores[0, 1] == scores[0, 2] == scores[0, 3] == 0.0  # all three underflow
    for lam in (0.0, 0.5):
        assert predict_classes(outputs, features, centroids, lam, "softmax").tolist() == [3]
    outputs[0, 1] = 1.0  # a real score difference still wins over the tie-break
    assert predict_classes(outputs, features, centroids, 0.5, "softmax").tolist() == [1]


# -- distance temperature: f = softmax(V / tau) --------------------------------------------------


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
@pytest.mark.parametrize("tau", [0.5, 3.0, 40.0])
def test_tau_matches_reference_values_and_gradients(normalisation: str, tau: float) -> None:
    outputs, features, targets, centroids = make_inputs(seed=10)
    centroids.requires_grad_()
    got = total_loss(outputs, features, targets, centroids, 0.3, normalisation, tau=tau)
    expected = reference_loss(outputs, features, targets, centroids, 0.3, normalisation, tau=tau)
    for value, reference in zip(got, expected, strict=True):
        torch.testing.assert_close(value, reference, rtol=1e-10, atol=1e-12)
    inputs = (outputs, features, centroids)
    got_grads = torch.autograd.grad(got[0], inputs)
    expected_grads = torch.autograd.grad(expected[0], inputs)
    for value, reference in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(value, reference, rtol=1e-9, atol=1e-12)
    module = CentroidLoss(0.3, normalisation, tau=tau)
    assert module.tau == tau and f"tau={tau}" in repr(module)
    torch.testing.assert_close(module(outputs, features, targets, centroids)[0], got[0])


def test_tau_one_is_the_paper() -> None:
    assert DISTANCE_TEMPERATURE == 1.0
    outputs, features, targets, centroids = make_inputs(seed=11)
    for normalisation in NORMALISATIONS:
        default = total_loss(outputs, features, targets, centroids, 0.4, normalisation)
        explicit = total_loss(outputs, features, targets, centroids, 0.4, normalisation, tau=1.0)
        assert all(torch.equal(a, b) for a, b in zip(default, explicit, strict=True))
    distances = squared_distances(features, centroids)
    # The paper's (and the previous) f: a plain softmax of V, bit for bit.
    assert torch.equal(normalise_distances(distances, "softmax", tau=1.0),
                       torch.softmax(distances, dim=-1))
    # tau cancels in the linear f.
    assert torch.equal(normalise_distances(distances, "linear", tau=7.0),
                       normalise_distances(distances, "linear"))
    assert not torch.allclose(normalise_distances(distances, "softmax", tau=7.0),
                              normalise_distances(distances, "softmax"))


def test_tau_revives_the_saturated_gradient() -> None:
    """At realistic scale the paper's softmax gives a frame's own class ``f ~ exp(-80)``, so E_b
    does not pull that class's centroid at all; a larger tau does."""
    _, features, centroids, labels = realistic_case("zeros")
    own = labels == 0  # frames of class 0: the only ones whose own centroid is Z_0
    outputs = torch.zeros(int(own.sum()), REAL_CLASSES, dtype=torch.float64)
    pull = {}
    for tau in (1.0, 100.0):
        z = centroids.double().requires_grad_()
        _, _, error_b = total_loss(outputs, features[own].double(), labels[own], z, 0.0,
                                   "softmax", tau=tau)
        pull[tau] = float(torch.autograd.grad(error_b, z)[0][0].norm())
    assert pull[1.0] < 1e-30 and pull[100.0] > 1e-6


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_tau_raises(tau: float) -> None:
    outputs, features, targets, centroids = make_inputs()
    with pytest.raises(ValueError, match="tau"):
        total_loss(outputs, features, targets, centroids, 0.5, "softmax", tau=tau)
    with pytest.raises(ValueError, match="tau"):
        CentroidLoss(0.5, "softmax", tau=tau)
    for normalisation in NORMALISATIONS:
        with pytest.raises(ValueError, match="tau"):
            normalise_distances(torch.ones(2, 3), normalisation, tau=tau)
        with pytest.raises(ValueError, match="tau"):
            predict(outputs, features, centroids, 0.5, normalisation, tau=tau)
        with pytest.raises(ValueError, match="tau"):
            predict_classes(outputs, features, centroids, 0.5, normalisation, tau=tau)


# -- the paper_tau search space ------------------------------------------------------------------


def test_paper_tau_space_searches_tau_on_a_log_scale() -> None:
    space = search_spaces.load("paper_tau")
    assert "tau" in space.DESCRIPTION and "softmax" in space.DESCRIPTION
    fixed = space.define(optuna.trial.FixedTrial(
        {"lam": 0.25, "tau": 30.0, "cell": "gru", "seq_len": 40}))
    assert fixed == {"normalisation": "softmax"}

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    assert space.define(trial) == {"normalisation": "softmax"}
    tau = trial.distributions["tau"]
    assert isinstance(tau, optuna.distributions.FloatDistribution)
    assert tau.log and (tau.low, tau.high) == (1.0, 1000.0)
    assert 1.0 <= trial.params["tau"] <= 1000.0
    assert set(trial.distributions) == {"lam", "tau", "cell", "seq_len"}  # f is held, not searched
    paper = optuna.create_study().ask()
    search_spaces.load("paper").define(paper)
    for name in ("lam", "cell", "seq_len"):
        assert trial.distributions[name] == paper.distributions[name]


@pytest.mark.parametrize("lam", [-0.1, 1.5])
def test_invalid_lam_raises(lam: float) -> None:
    outputs, features, targets, centroids = make_inputs()
    with pytest.raises(ValueError, match="lam"):
        total_loss(outputs, features, targets, centroids, lam, "softmax")
    with pytest.raises(ValueError, match="lam"):
        CentroidLoss(lam, "softmax")
    with pytest.raises(ValueError, match="lam"):
        predict(outputs, features, centroids, lam, "softmax")
    with pytest.raises(ValueError, match="lam"):
        predict_classes(outputs, features, centroids, lam, "softmax")


def test_invalid_normalisation_raises() -> None:
    outputs, features, targets, centroids = make_inputs()
    with pytest.raises(ValueError, match="normalisation"):
        total_loss(outputs, features, targets, centroids, 0.5, "cosine")
    with pytest.raises(ValueError, match="normalisation"):
        CentroidLoss(0.5, "cosine")
    with pytest.raises(ValueError, match="normalisation"):
        normalise_distances(torch.ones(2, 3), "cosine")


def test_mismatched_shapes_raise() -> None:
    outputs, features, targets, centroids = make_inputs()
    with pytest.raises(ValueError, match="centroids"):
        total_loss(outputs, features, targets, centroids[:, :2], 0.5, "softmax")
    with pytest.raises(ValueError, match="leading dims"):
        total_loss(outputs, features[:-1], targets, centroids, 0.5, "softmax")
    with pytest.raises(ValueError, match="targets"):
        total_loss(outputs, features, torch.full((M,), C), centroids, 0.5, "softmax")


def reference_dropped(outputs, features, targets, centroids, kept, lam, normalisation):
    """Eqs. (5)-(9) literally, classes without a centroid left out of V, f and E_b (whose mean
    runs over the C' kept classes); E_a keeps all C outputs."""
    samples, classes = outputs.shape
    kept_list = [i for i in range(classes) if kept[i]]
    error_a = outputs.new_zeros(())
    error_b = outputs.new_zeros(())
    for m in range(samples):
        distances = [sum((centroids[i, k] - features[m, k]) ** 2
                         for k in range(features.shape[1])) for i in kept_list]
        if normalisation == "softmax":
            exps = [torch.exp(v) for v in distances]
            normalised = [e / sum(exps) for e in exps]
        else:
            normalised = [v / sum(distances) for v in distances]
        for i in range(classes):
            desired = 1.0 if int(targets[m]) == i else 0.0
            error_a = error_a + (desired - outputs[m, i]) ** 2
        for j, i in enumerate(kept_list):
            desired = 1.0 if int(targets[m]) == i else 0.0
            error_b = error_b + (desired - (1.0 - normalised[j])) ** 2
    error_a = error_a / (classes * samples)
    error_b = error_b / (len(kept_list) * samples)
    return lam * error_a + (1 - lam) * error_b, error_a, error_b


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
def test_a_class_without_centroid_is_dropped_from_v_f_and_e_b(normalisation: str) -> None:
    """Valence-arousal cells without target frames: their NaN row of Z is never used."""
    outputs, features, targets, centroids = make_inputs(seed=3, samples=10)
    kept = torch.tensor([True, False, True, True])
    holed = centroids.clone()
    holed[~kept] = torch.nan
    got = total_loss(outputs, features, targets, holed, 0.4, normalisation)
    expected = reference_dropped(outputs, features, targets, centroids, kept, 0.4, normalisation)
    for value, reference in zip(got, expected, strict=True):
        assert torch.isfinite(value)
        torch.testing.assert_close(value, reference, rtol=1e-10, atol=1e-12)
    got_grads = torch.autograd.grad(got[0], (outputs, features))
    expected_grads = torch.autograd.grad(expected[0], (outputs, features))
    for value, reference in zip(got_grads, expected_grads, strict=True):
        assert torch.isfinite(value).all()
        torch.testing.assert_close(value, reference, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
def test_a_dropped_class_scores_as_infinitely_far(normalisation: str) -> None:
    """f of a dropped class is 1 (never near): at lam = 0 it is never predicted, and the kept
    classes' scores equal those of the study without it."""
    outputs, features, _, centroids = make_inputs(seed=4, samples=12)
    holed = centroids.clone()
    holed[1] = torch.nan
    scores = predict(outputs.detach(), features.detach(), holed, 0.0, normalisation)
    assert torch.all(scores[:, 1] == -1.0)
    alone = predict(outputs.detach()[:, [0, 2, 3]], features.detach(), centroids[[0, 2, 3]], 0.0,
                    normalisation)
    torch.testing.assert_close(scores[:, [0, 2, 3]], alone, rtol=0, atol=0)
    classes = predict_classes(outputs.detach(), features.detach(), holed, 0.0, normalisation)
    assert not (classes == 1).any()
