"""The alignment losses of trainables.alignment against independent references: numpy's
covariance for Deep CORAL, a pair-by-pair double sum for MMD, hand-made cross-entropy for DANN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainables.alignment import (
    Alignment,
    DomainClassifier,
    coral_loss,
    dann_coefficient,
    dann_loss,
    make_alignment,
    mmd_loss,
    reverse_gradient,
)
from trainables.config import ALIGNMENT_WEIGHTS

MS, MT, N = 64, 48, 128


def domains(seed: int, scale: str = "tanh", dtype: torch.dtype = torch.float32):
    """Realistic X: tanh outputs in [-1, 1], or features of norm ~10; target a little shifted
    and stretched from source."""
    generator = torch.Generator().manual_seed(seed)
    if scale == "tanh":
        source = torch.tanh(torch.randn(MS, N, generator=generator, dtype=torch.float64))
        target = torch.tanh(1.3 * torch.randn(MT, N, generator=generator, dtype=torch.float64)
                            + 0.2)
    else:
        source = 0.5 * torch.randn(MS, N, generator=generator, dtype=torch.float64) + 0.8
        target = 0.6 * torch.randn(MT, N, generator=generator, dtype=torch.float64) + 0.7
    return source.to(dtype), target.to(dtype)


# ---------------------------------------------------------------- Deep CORAL


def reference_coral(source: np.ndarray, target: np.ndarray) -> float:
    """Sun & Saenko eq. (1) with numpy's unbiased covariance, in float64."""
    difference = np.cov(source, rowvar=False) - np.cov(target, rowvar=False)
    return float(np.sum(difference ** 2) / (4 * source.shape[1] ** 2))


@pytest.mark.parametrize("scale", ["tanh", "norm10"])
def test_coral_matches_numpy_covariance(scale: str) -> None:
    source, target = domains(1, scale)
    expected = reference_coral(source.double().numpy(), target.double().numpy())
    got = coral_loss(source, target)
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_coral_is_zero_for_the_same_distribution() -> None:
    source, _ = domains(2)
    permuted = source[torch.randperm(MS, generator=torch.Generator().manual_seed(0))]
    assert float(coral_loss(source, permuted)) == pytest.approx(0.0, abs=1e-10)
    # Covariance ignores a shift of the mean: shifted copies still align.
    assert float(coral_loss(source, source + 3.0)) == pytest.approx(0.0, abs=1e-10)
    # ... but not a scaling, which changes the covariance.
    assert float(coral_loss(source, 2.0 * source)) > 1e-4


def test_coral_gradcheck_float64() -> None:
    generator = torch.Generator().manual_seed(3)
    source = torch.randn(6, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    target = torch.randn(5, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(coral_loss, (source, target))


def test_coral_gradient_matches_closed_form() -> None:
    """dL/dD_S = (D_S - mean)(C_S - C_T) / (d^2 (M_S - 1)), the analytic gradient of eq. (1)."""
    source, target = domains(4, "norm10", torch.float64)
    source.requires_grad_(True)
    coral_loss(source, target).backward()
    s, t = source.detach().numpy(), target.numpy()
    difference = np.cov(s, rowvar=False) - np.cov(t, rowvar=False)
    expected = (s - s.mean(axis=0)) @ difference / (N ** 2 * (MS - 1))
    np.testing.assert_allclose(source.grad.numpy(), expected, rtol=1e-9, atol=1e-15)


def test_coral_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        coral_loss(torch.zeros(1, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="at least 2"):
        coral_loss(torch.zeros(4, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="width"):
        coral_loss(torch.zeros(4, 3), torch.zeros(4, 2))


# ---------------------------------------------------------------- multi-kernel MMD


def reference_base(source: np.ndarray, target: np.ndarray) -> float:
    """Mean squared distance over ordered pairs of distinct rows of the pooled sample."""
    pooled = np.concatenate([source, target])
    total = math.fsum(float(np.sum((a - b) ** 2)) for i, a in enumerate(pooled)
                      for j, b in enumerate(pooled) if i != j)
    return total / (len(pooled) * (len(pooled) - 1))


def reference_mmd(source: np.ndarray, target: np.ndarray, kernel_mul: float = 2.0,
                  kernel_num: int = 5) -> float:
    """Gretton et al. eq. (3) (biased) with DAN's kernel sum, one pair at a time."""
    base = reference_base(source, target)
    widths = [base * kernel_mul ** (i - kernel_num // 2) for i in range(kernel_num)]

    def kernel(a: np.ndarray, b: np.ndarray) -> float:
        squared = float(np.sum((a - b) ** 2))
        return math.fsum(math.exp(-squared / width) for width in widths)

    def mean_kernel(xs: np.ndarray, ys: np.ndarray) -> float:
        return math.fsum(kernel(a, b) for a in xs for b in ys) / (len(xs) * len(ys))

    return (mean_kernel(source, source) + mean_kernel(target, target)
            - 2.0 * mean_kernel(source, target))


@pytest.mark.parametrize("scale", ["tanh", "norm10"])
def test_mmd_matches_pairwise_double_sum(scale: str) -> None:
    source, target = domains(5, scale)
    expected = reference_mmd(source.double().numpy(), target.double().numpy())
    got = mmd_loss(source, target)
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(("kernel_mul", "kernel_num"), [(2.0, 5), (3.0, 4), (1.5, 1)])
def test_mmd_kernel_family(kernel_mul: float, kernel_num: int) -> None:
    source, target = domains(6, "tanh", torch.float64)
    source, target = source[:12, :16], target[:9, :16]
    expected = reference_mmd(source.numpy(), target.numpy(), kernel_mul, kernel_num)
    got = mmd_loss(source, target, kernel_mul=kernel_mul, kernel_num=kernel_num)
    assert float(got) == pytest.approx(expected, rel=1e-10)


def test_mmd_float32_keeps_float64_precision_at_batch_size() -> None:
    """A training step pools ~1000 frames a domain, where kernel means summed in float32 drift
    by ~1e-4 relative; float32 inputs must give the float64 result (checked above against the
    double sum) to float32 rounding."""
    generator = torch.Generator().manual_seed(16)
    source = torch.tanh(torch.randn(1024, N, generator=generator))
    target = torch.tanh(1.02 * torch.randn(1024, N, generator=generator))
    expected = float(mmd_loss(source.double(), target.double()))
    assert float(mmd_loss(source, target)) == pytest.approx(expected, rel=1e-6)


def test_mmd_of_a_sample_with_itself_is_zero() -> None:
    source, _ = domains(7, "norm10")
    assert abs(float(mmd_loss(source, source))) < 1e-7


def test_mmd_grows_with_a_shift_of_the_target() -> None:
    generator = torch.Generator().manual_seed(8)
    source = torch.tanh(torch.randn(MS, N, generator=generator))
    target = torch.tanh(torch.randn(MT, N, generator=generator))
    values = [float(mmd_loss(source, target + shift)) for shift in (0.0, 0.1, 0.3, 1.0)]
    assert values == sorted(values)
    assert values[-1] > 10 * values[0]


def test_mmd_gradcheck_float64() -> None:
    generator = torch.Generator().manual_seed(9)
    source = torch.randn(5, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    target = torch.randn(4, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    base = reference_base(source.detach().numpy(), target.detach().numpy())

    def fixed(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return mmd_loss(s, t, base_bandwidth=base)

    assert torch.autograd.gradcheck(fixed, (source, target))


def test_mmd_bandwidth_carries_no_gradient() -> None:
    """The default bandwidth is the pooled mean distance, treated as a constant (DAN's code):
    the gradient equals that of the loss with that bandwidth fixed."""
    source, target = domains(10, "tanh", torch.float64)
    base = reference_base(source.numpy(), target.numpy())
    source.requires_grad_(True)
    (default,) = torch.autograd.grad(mmd_loss(source, target), source)
    (fixed,) = torch.autograd.grad(mmd_loss(source, target, base_bandwidth=base), source)
    torch.testing.assert_close(default, fixed, rtol=1e-9, atol=1e-15)
    assert default.abs().max() > 0


def test_mmd_rejects_bad_arguments() -> None:
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="kernel_mul"):
        mmd_loss(x, x, kernel_mul=0.0)
    with pytest.raises(ValueError, match="kernel_num"):
        mmd_loss(x, x, kernel_num=0)
    with pytest.raises(ValueError, match="at least 1"):
        mmd_loss(x, torch.zeros(0, 2))


# ---------------------------------------------------------------- gradient reversal and DANN


def test_reverse_gradient_is_identity_forward_and_negates_backward() -> None:
    generator = torch.Generator().manual_seed(11)
    x = torch.randn(MS, N, generator=generator, requires_grad=True)
    weights = torch.randn(MS, N, generator=generator)
    reversed_x = reverse_gradient(x, 0.7)
    assert torch.equal(reversed_x, x)
    (reversed_x * weights).sum().backward()
    torch.testing.assert_close(x.grad, -0.7 * weights)
    x.grad = None
    (reverse_gradient(x, 0.0) * weights).sum().backward()
    assert torch.count_nonzero(x.grad) == 0


def test_dann_coefficient_schedule() -> None:
    assert dann_coefficient(0.0) == 0.0
    assert dann_coefficient(1.0) == pytest.approx(0.9999092, abs=1e-7)
    assert dann_coefficient(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    values = [dann_coefficient(p) for p in np.linspace(0.0, 1.0, 21)]
    assert all(b > a for a, b in zip(values[:-1], values[1:], strict=True))
    assert dann_coefficient(-0.5) == 0.0
    assert dann_coefficient(3.0) == dann_coefficient(1.0)
    assert dann_coefficient(0.5, gamma=0.0) == 0.0
    with pytest.raises(ValueError):
        dann_coefficient(float("nan"))


def test_dann_loss_is_equally_weighted_binary_cross_entropy() -> None:
    torch.manual_seed(12)
    classifier = DomainClassifier(N)
    source, target = domains(12)
    got = dann_loss(classifier, source, target, 0.5).detach()
    with torch.no_grad():
        p_source = torch.sigmoid(classifier.layers(source)[:, 0])
        p_target = torch.sigmoid(classifier.layers(target)[:, 0])
    expected = 0.5 * (F.binary_cross_entropy(p_source, torch.ones(MS))
                      + F.binary_cross_entropy(p_target, torch.zeros(MT)))
    by_hand = 0.5 * (-np.log(p_source.double().numpy()).mean()
                     - np.log1p(-p_target.double().numpy()).mean())
    assert float(got) == pytest.approx(float(expected), rel=1e-5)
    assert float(got) == pytest.approx(by_hand, rel=1e-5)
    # The domains are weighted equally, not pooled (M_s != M_t tells them apart here).
    pooled = (-np.log(p_source.double().numpy()).sum()
              - np.log1p(-p_target.double().numpy()).sum()) / (MS + MT)
    assert abs(by_hand - pooled) > 1e-4


def test_dann_reverses_only_the_features_gradient() -> None:
    torch.manual_seed(13)
    classifier = DomainClassifier(N, hidden=32)
    source, target = domains(13)
    source.requires_grad_(True)
    target.requires_grad_(True)
    coefficient = 0.6
    dann_loss(classifier, source, target, coefficient).backward()

    # The same loss without a reversal layer, from the classifier's layers directly.
    plain_source = source.detach().requires_grad_(True)
    plain_target = target.detach().requires_grad_(True)
    source_logits = classifier.layers(plain_source)[:, 0]
    target_logits = classifier.layers(plain_target)[:, 0]
    plain = 0.5 * (F.binary_cross_entropy_with_logits(source_logits, torch.ones(MS))
                   + F.binary_cross_entropy_with_logits(target_logits, torch.zeros(MT)))
    parameters = list(classifier.parameters())
    grads = torch.autograd.grad(plain, [plain_source, plain_target, *parameters])

    torch.testing.assert_close(source.grad, -coefficient * grads[0])
    torch.testing.assert_close(target.grad, -coefficient * grads[1])
    for parameter, expected in zip(parameters, grads[2:], strict=True):
        torch.testing.assert_close(parameter.grad, expected)
    assert any(float(g.abs().max()) > 0 for g in grads[2:])


# ---------------------------------------------------------------- Alignment, make_alignment


def test_make_alignment_none_for_methods_without_alignment() -> None:
    assert make_alignment("centroid", None, N) is None
    assert make_alignment("source_only", 0.5, N) is None


def test_make_alignment_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ALIGNMENT_WEIGHTS, "mmd", 0.25)
    monkeypatch.setitem(ALIGNMENT_WEIGHTS, "dann", 0.125)
    mmd = make_alignment("mmd", None, N)
    dann = make_alignment("dann", None, N)
    assert mmd is not None and mmd.weight == 0.25 and mmd.method == "mmd"
    assert dann is not None and dann.weight == 0.125
    coral = make_alignment("coral", 0.3, N)
    assert coral is not None and coral.weight == 0.3
    assert make_alignment("coral", 0.0, N).weight == 0.0


@pytest.mark.parametrize("weight", [-0.1, float("nan"), float("inf")])
def test_bad_weights_are_rejected(weight: float) -> None:
    with pytest.raises(ValueError, match="weight"):
        make_alignment("coral", weight, N)
    with pytest.raises(ValueError, match="weight"):
        Alignment("mmd", weight, N)


def test_bad_methods_are_rejected() -> None:
    with pytest.raises(ValueError, match="centroid, source_only, coral, mmd, dann"):
        make_alignment("CORAL", None, N)
    with pytest.raises(ValueError, match="coral, mmd, dann"):
        Alignment("centroid", 1.0, N)


def test_alignment_dispatches_to_the_unweighted_losses() -> None:
    source, target = domains(14)
    coral = Alignment("coral", 3.0, N)
    mmd = Alignment("mmd", 3.0, N)
    assert not hasattr(coral, "domain_classifier") and not list(coral.parameters())
    assert not hasattr(mmd, "domain_classifier")
    assert float(coral(source, target, 0.5)) == pytest.approx(
        reference_coral(source.double().numpy(), target.double().numpy()), rel=1e-5)
    assert float(mmd(source, target, 0.5)) == pytest.approx(
        reference_mmd(source.double().numpy(), target.double().numpy()), rel=1e-5)


def test_alignment_dann_ramps_the_reversed_gradient() -> None:
    torch.manual_seed(15)
    alignment = Alignment("dann", 1.0, N)
    assert isinstance(alignment.domain_classifier, DomainClassifier)
    assert list(alignment.parameters())
    source, target = domains(15)
    gradients = []
    for progress in (0.0, 1.0):
        x = source.clone().requires_grad_(True)
        alignment(x, target, progress).backward()
        gradients.append(x.grad)
    assert torch.count_nonzero(gradients[0]) == 0
    assert float(gradients[1].abs().max()) > 0
