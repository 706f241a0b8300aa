"""The loss of eqs. (5)-(9) against an independent, loop-by-loop reference."""

from __future__ import annotations

import pytest
import torch

from trainables.config import NORMALISATIONS
from trainables.loss import (
    CentroidLoss,
    normalise_distances,
    predict,
    squared_distances,
    total_loss,
)

M, C, N = 6, 4, 3


def reference_loss(outputs, features, targets, centroids, lam, normalisation):
    """Eqs. (5)-(9) written out literally, one scalar at a time (autograd still flows)."""
    samples, classes = outputs.shape
    error_a = outputs.new_zeros(())
    error_b = outputs.new_zeros(())
    for m in range(samples):
        distances = []
        for i in range(classes):
            y = [centroids[i, k] - features[m, k] for k in range(features.shape[1])]  # eq. (6)
            distances.append(sum(component * component for component in y))           # eq. (7)
        if normalisation == "softmax":
            exps = [torch.exp(v) for v in distances]
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
    torch.testing.assert_close(normalise_distances(distances, "softmax"),
                               torch.softmax(distances, dim=1))
    zeros = normalise_distances(torch.zeros(2, 3), "linear")
    assert torch.equal(zeros, torch.zeros(2, 3))


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
    shaped = predict(outputs.reshape(4, 5, C), features.reshape(4, 5, N), centroids, 0.5, "linear")
    assert shaped.shape == (4, 5, C)


@pytest.mark.parametrize("lam", [-0.1, 1.5])
def test_invalid_lam_raises(lam: float) -> None:
    outputs, features, targets, centroids = make_inputs()
    with pytest.raises(ValueError, match="lam"):
        total_loss(outputs, features, targets, centroids, lam, "softmax")
    with pytest.raises(ValueError, match="lam"):
        CentroidLoss(lam, "softmax")
    with pytest.raises(ValueError, match="lam"):
        predict(outputs, features, centroids, lam, "softmax")


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
