"""trainables.va against independent references: python loops (math.fsum), scipy, literal
numbers and hand-written bin arithmetic, never the module's own helpers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import pearsonr

from trainables.va import (
    VA_METRIC_NAMES,
    VA_RULES,
    VA_SELECTION,
    VAGrid,
    ccc,
    pearson,
    predicted_va,
    rmse,
    va_metrics,
)

G = 20


# -- references ----------------------------------------------------------------------------------


def loop_ccc(x: list[float], y: list[float]) -> float:
    """Lin (1989) written out: population moments, one python loop each."""
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if not (math.isnan(a) or math.isnan(b))]
    n = len(pairs)
    mx = math.fsum(a for a, _ in pairs) / n
    my = math.fsum(b for _, b in pairs) / n
    sxx = math.fsum((a - mx) ** 2 for a, _ in pairs) / n
    syy = math.fsum((b - my) ** 2 for _, b in pairs) / n
    sxy = math.fsum((a - mx) * (b - my) for a, b in pairs) / n
    return 2 * sxy / (sxx + syy + (mx - my) ** 2)


def loop_rmse(x: list[float], y: list[float]) -> float:
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if not (math.isnan(a) or math.isnan(b))]
    return math.sqrt(math.fsum((a - b) ** 2 for a, b in pairs) / len(pairs))


def hand_bin(x: float, size: int) -> int:
    """The issue's formula, clip(floor((x + 1) / 2 * G), 0, G - 1)."""
    return min(max(math.floor((x + 1) / 2 * size), 0), size - 1)


def hand_centre(cell: int, size: int) -> tuple[float, float]:
    """Bin b spans [-1 + 2b/G, -1 + 2(b+1)/G]; its centre is -1 + (2b + 1)/G."""
    return (-1 + (2 * (cell // size) + 1) / size, -1 + (2 * (cell % size) + 1) / size)


def hand_expected(row: np.ndarray, lam: float, size: int) -> tuple[float, float]:
    """The "expected" rule for one frame, with a loop over cells: the 9 best cells, weighted
    by their score above the 10th best's."""
    del lam  # the weights ignore a constant added to every score
    floor = sorted((float(s) for s in row), reverse=True)[9]
    weights = [max(float(s) - floor, 0.0) for s in row]
    total = math.fsum(weights)
    v = math.fsum(w * hand_centre(c, size)[0] for c, w in enumerate(weights)) / total
    a = math.fsum(w * hand_centre(c, size)[1] for c, w in enumerate(weights)) / total
    return v, a


def first_argmax(row: np.ndarray) -> int:
    best = 0
    for c in range(len(row)):
        if row[c] > row[best]:
            best = c
    return best


def random_split(rng: np.random.Generator, lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame VA that stays near a per-video point (as Aff-Wild's traces do), in [-1, 1]."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    centres = rng.uniform(-0.8, 0.8, size=(len(lengths), 2))
    va = np.repeat(centres, lengths, axis=0) + rng.normal(scale=0.15, size=(offsets[-1], 2))
    return np.clip(va, -1, 1), offsets


# -- the grid ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 0, -3, 101, 2.5, True, "4"])
def test_grid_size_is_validated(size: object) -> None:
    with pytest.raises(ValueError):
        VAGrid(size)  # type: ignore[arg-type]


def test_grid_shape_edges_and_centres_by_hand() -> None:
    assert VAGrid(2).num_cells == 4 and VAGrid(100).num_cells == 10_000
    assert VAGrid(np.int64(3)).size == 3
    np.testing.assert_array_equal(VAGrid(4).edges, [-1.0, -0.5, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(VAGrid(2).centres(),
                               [[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]], atol=1e-15)
    centres = VAGrid(G).centres()
    assert centres.shape == (G * G, 2) and centres.dtype == np.float64
    for cell in range(G * G):
        np.testing.assert_allclose(centres[cell], hand_centre(cell, G), atol=1e-12)
        assert VAGrid(G).bins(cell) == (cell // G, cell % G)
    for bad in (-1, G * G):
        with pytest.raises(ValueError):
            VAGrid(G).bins(bad)


@pytest.mark.parametrize("size", [2, 3, 7, G, 100])
def test_every_centre_maps_back_to_its_cell(size: int) -> None:
    grid = VAGrid(size)
    cells = grid.cell_of(grid.centres())
    assert cells.dtype == np.int64
    assert cells.tolist() == list(range(size * size))


@pytest.mark.parametrize("size", [3, G, 99])
def test_random_values_land_between_their_cells_edges(size: int) -> None:
    grid = VAGrid(size)
    rng = np.random.default_rng(size)
    edges = grid.edges
    va = rng.uniform(-1, 1, size=(2000, 2))
    va[:50] = rng.choice(edges, size=(50, 2))  # values exactly on an edge
    cells = grid.cell_of(va)
    for (v, a), cell in zip(va.tolist(), cells.tolist(), strict=True):
        for x, b in ((v, cell // size), (a, cell % size)):
            assert edges[b] <= x
            assert x < edges[b + 1] or (b == size - 1 and x == 1.0)
    for (v, a), cell in zip(va[50:].tolist(), cells[50:].tolist(), strict=True):
        assert cell == hand_bin(v, size) * size + hand_bin(a, size)


def test_edge_values_nan_and_out_of_range() -> None:
    grid = VAGrid(G)
    va = np.array([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [-1.0, 1.0], [1.0, -1.0],
                   [np.nan, 0.3], [0.3, np.nan], [np.nan, np.nan], [-0.9, 0.95]])
    # -0.9 is the edge between bins 0 and 1, so in bin 1; the float formula puts it in bin 0
    # ((-0.9 + 1) / 2 * 20 = 0.9999999999999998): the grid follows its edges.
    expected = [0, G * G - 1, (G // 2) * G + G // 2, G - 1, (G - 1) * G, -1, -1, -1,
                1 * G + 19]
    assert hand_bin(-0.9, G) == 0 and -0.9 == VAGrid(G).edges[1]
    assert grid.cell_of(va).tolist() == expected
    assert VAGrid(3).cell_of(np.array([[0.0, 0.0]])).tolist() == [4]  # the middle cell
    assert grid.cell_of(np.zeros((0, 2))).shape == (0,)
    for bad in ([[1.0000001, 0.0]], [[0.0, -1.5]], [[np.inf, 0.0]], [[0.0, -np.inf]]):
        with pytest.raises(ValueError, match=r"\[-1, 1\]"):
            grid.cell_of(np.array(bad))
    with pytest.raises(ValueError, match="shape"):
        grid.cell_of(np.zeros((4, 3)))


def test_names_are_unique_and_in_cell_order() -> None:
    names = VAGrid(G).names()
    assert len(names) == G * G == len(set(names))
    assert names[:2] == ("v00a00", "v00a01") and names[G] == "v01a00" and names[-1] == "v19a19"
    for cell, name in enumerate(names):
        assert name == f"v{cell // G:02d}a{cell % G:02d}"
    assert VAGrid(100).names()[-1] == "v99a99"


# -- ccc, pearson, rmse --------------------------------------------------------------------------


def test_ccc_matches_the_loop_formula() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=2000)
    y = 0.6 * x + rng.normal(scale=0.8, size=2000) + 0.3
    assert ccc(x, y) == pytest.approx(loop_ccc(x.tolist(), y.tolist()), rel=1e-12)
    assert 0.0 < ccc(x, y) < pearsonr(x, y)[0]


def test_ccc_known_cases() -> None:
    # Population moments: 2 (4/3) / (2/3 + 8/3 + (2 - 4)^2) = 4/11 (sample moments give 4/9).
    assert ccc(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])) == pytest.approx(4 / 11)
    rng = np.random.default_rng(2)
    x = rng.normal(size=2000)
    x -= x.mean()
    assert ccc(x, x) == pytest.approx(1.0, abs=1e-14)
    assert ccc(x, -x) == pytest.approx(-1.0, abs=1e-14)
    assert ccc(x, 2 * x) == pytest.approx(2 * 2 / (1 + 2**2))  # 2a / (1 + a^2)
    shifted = ccc(x, x + 0.5)
    assert pearson(x, x + 0.5) == pytest.approx(1.0)
    assert shifted < 1.0
    variance = math.fsum(v * v for v in x) / len(x)
    assert shifted == pytest.approx(2 * variance / (2 * variance + 0.25), rel=1e-12)


def test_ccc_drops_nan_pairs_and_is_nan_when_undefined() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=500), rng.normal(size=500)
    xn, yn = x.copy(), y.copy()
    xn[::7] = np.nan
    yn[3::11] = np.nan
    keep = ~(np.isnan(xn) | np.isnan(yn))
    assert ccc(xn, yn) == pytest.approx(loop_ccc(x[keep].tolist(), y[keep].tolist()), rel=1e-12)
    assert ccc(xn, yn) != pytest.approx(ccc(x, y))
    assert math.isnan(ccc(np.array([1.0, np.nan]), np.array([np.nan, 2.0])))
    assert math.isnan(ccc(np.array([0.4]), np.array([0.1])))
    assert math.isnan(ccc(np.full(5, 0.1), np.full(5, 0.1)))  # 0 / 0
    assert ccc(np.full(5, 0.1), np.full(5, 0.3)) == 0.0  # no covariance, different means


def test_pearson_matches_scipy_and_is_quiet_on_constants() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=2000)
    y = -0.3 * x + rng.normal(size=2000)
    assert pearson(x, y) == pytest.approx(pearsonr(x, y)[0], rel=1e-12)
    x[::5] = np.nan
    keep = ~np.isnan(x)
    assert pearson(x, y) == pytest.approx(pearsonr(x[keep], y[keep])[0], rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(pearson(np.full(100, 0.1), rng.normal(size=100)))
        assert math.isnan(pearson(rng.normal(size=100), np.full(100, -0.7)))
        assert math.isnan(pearson(np.array([1.0]), np.array([2.0])))


def test_rmse_matches_a_loop() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-1, 1, 2000), rng.uniform(-1, 1, 2000)
    y[::9] = np.nan
    assert rmse(x, y) == pytest.approx(loop_rmse(x.tolist(), y.tolist()), rel=1e-12)
    assert rmse(np.array([0.0, 1.0]), np.array([3.0, -3.0])) == pytest.approx(math.sqrt(12.5))
    assert math.isnan(rmse(np.array([np.nan]), np.array([1.0])))
    with pytest.raises(ValueError):
        rmse(np.zeros(3), np.zeros(4))


# -- predicted_va --------------------------------------------------------------------------------


def test_one_hot_scores_give_that_cells_centre() -> None:
    grid = VAGrid(G)
    cells = np.random.default_rng(6).integers(0, G * G, size=300)
    scores = np.zeros((300, G * G))
    scores[np.arange(300), cells] = 1.0
    for rule in VA_RULES:
        result = predicted_va(scores, grid, lam=1.0, rule=rule)
        assert result.shape == (300, 2)
        for row, cell in zip(result, cells, strict=True):
            np.testing.assert_allclose(row, hand_centre(int(cell), G), atol=1e-12)


def test_expected_rule_weights_the_best_cells_above_the_next_best() -> None:
    grid, lam = VAGrid(G), 0.3
    scores = np.full((1, G * G), -(1 - lam))  # closeness 0 everywhere ...
    scores[0, [5, 3 * G + 17]] = 0.25 - (1 - lam)  # ... but two equal cells
    result = predicted_va(scores, grid, lam=lam)
    midpoint = np.add(hand_centre(5, G), hand_centre(3 * G + 17, G)) / 2
    np.testing.assert_allclose(result[0], midpoint, atol=1e-12)
    # Negative closeness is clipped, unequal weights are a weighted mean.
    scores[0, 0] = -5.0
    scores[0, 5] = 0.75 - (1 - lam)
    expected = (np.multiply(hand_centre(5, G), 3) + hand_centre(3 * G + 17, G)) / 4
    np.testing.assert_allclose(predicted_va(scores, grid, lam=lam)[0], expected, atol=1e-12)


def test_rows_without_weight_fall_back_to_the_argmax() -> None:
    grid, lam = VAGrid(G), 0.5
    scores = np.full((3, G * G), -(1 - lam) - 1.0)  # all equal: every weight is 0
    scores[1, 42] = -(1 - lam) - 0.5                 # one cell above the rest: its centre
    scores[2, :] = 0.1
    scores[2, 13] = np.inf  # not finite
    result = predicted_va(scores, grid, lam=lam)
    for row, cell in zip(result, (0, 42, 13), strict=True):
        np.testing.assert_allclose(row, hand_centre(cell, G), atol=1e-12)
    # Two cells tied above the rest share the weight: their midpoint, not the lower index.
    tied = np.full((1, G * G), -1.0)
    tied[0, [7, 9]] = -0.8
    np.testing.assert_allclose(predicted_va(tied, grid, lam=lam)[0],
                               np.add(hand_centre(7, G), hand_centre(9, G)) / 2, atol=1e-12)


def test_expected_rule_ignores_the_many_small_scores() -> None:
    """400 cells of small noise do not pull the prediction to the grid's centre: one clear
    cell at a corner stays near that corner."""
    grid = VAGrid(G)
    rng = np.random.default_rng(8)
    scores = rng.uniform(0.0, 0.05, size=(50, G * G))
    scores[:, G * G - 1] = 1.0  # the top-right cell
    result = predicted_va(scores, grid, lam=1.0)
    corner = hand_centre(G * G - 1, G)
    assert np.abs(result - corner).max() < 0.1  # within a cell of the corner


def test_argmax_rule_and_validation() -> None:
    grid = VAGrid(G)
    scores = np.random.default_rng(7).normal(size=(200, G * G))
    scores[0, [11, 250]] = 10.0  # a tie
    result = predicted_va(scores, grid, lam=0.4, rule="argmax")
    for row, frame in zip(result, scores, strict=True):
        np.testing.assert_allclose(row, hand_centre(first_argmax(frame), G), atol=1e-12)
    np.testing.assert_allclose(result[0], hand_centre(11, G), atol=1e-12)
    with pytest.raises(ValueError, match="expected, argmax"):
        predicted_va(scores, grid, lam=0.4, rule="mean")
    with pytest.raises(ValueError):
        predicted_va(scores[:, :-1], grid, lam=0.4)
    with pytest.raises(ValueError):
        predicted_va(scores, grid, lam=1.5)


# -- va_metrics ----------------------------------------------------------------------------------


def test_keys_and_selection_names() -> None:
    grid = VAGrid(4)
    va, offsets = random_split(np.random.default_rng(8), [5, 6])
    metrics = va_metrics("val", np.zeros((11, 16)), va, offsets, grid, lam=0.5)
    assert list(metrics) == [f"val_{name}" for name in VA_METRIC_NAMES]
    assert set(VA_SELECTION) <= set(VA_METRIC_NAMES)
    assert {"frame_ccc", "video_ccc", "frame_ccc_valence", "video_rmse_arousal",
            "frame_acc", "annotated_frames"} <= set(VA_METRIC_NAMES)


def test_scores_of_the_true_cells_are_nearly_perfect() -> None:
    rng = np.random.default_rng(9)
    lengths = rng.integers(20, 120, size=30).tolist()
    va, offsets = random_split(rng, lengths)
    n = len(va)
    cells = [hand_bin(v, G) * G + hand_bin(a, G) for v, a in va.tolist()]
    scores = np.zeros((n, G * G))
    scores[np.arange(n), cells] = 1.0
    metrics = va_metrics("train", scores, va, offsets, VAGrid(G), lam=1.0)
    assert metrics["train_frame_acc"] == 1.0
    assert metrics["train_annotated_frames"] == n
    centres = [hand_centre(c, G) for c in cells]
    for axis, name in enumerate(("valence", "arousal")):
        predicted = [c[axis] for c in centres]
        truth = va[:, axis].tolist()
        assert metrics[f"train_frame_ccc_{name}"] == pytest.approx(loop_ccc(predicted, truth))
        assert 0.99 < metrics[f"train_frame_ccc_{name}"] < 1.0
        # Quantisation error of bins 2/G wide: ~ (2/G) / sqrt(12).
        assert metrics[f"train_frame_rmse_{name}"] == pytest.approx(loop_rmse(predicted, truth))
        assert metrics[f"train_frame_rmse_{name}"] < 2 / G / math.sqrt(12) * 1.2
    assert 0.99 < metrics["train_frame_ccc"] < 1.0
    assert 0.99 < metrics["train_video_ccc"] <= 1.0


def hand_video_metrics(scores: np.ndarray, va: np.ndarray, offsets: np.ndarray, lam: float,
                       rule: str) -> dict[str, float]:
    """Video-level metrics with loops: per video, its annotated frames only."""
    pred_v, true_v, hits = [], [], []
    for start, stop in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        frames = [f for f in range(start, stop) if not np.isnan(va[f]).any()]
        if not frames:
            continue
        points = [hand_expected(scores[f], lam, G) if rule == "expected"
                  else hand_centre(first_argmax(scores[f]), G) for f in frames]
        pred_v.append([math.fsum(p[k] for p in points) / len(frames) for k in (0, 1)])
        true_v.append([math.fsum(va[f, k] for f in frames) / len(frames) for k in (0, 1)])
        mean_scores = [math.fsum(scores[f, c] for f in frames) / len(frames)
                       for c in range(scores.shape[1])]
        true_cell = hand_bin(true_v[-1][0], G) * G + hand_bin(true_v[-1][1], G)
        hits.append(first_argmax(np.array(mean_scores)) == true_cell)
    result = {"video_acc": sum(hits) / len(hits)}
    for k, name in enumerate(("valence", "arousal")):
        p, t = [row[k] for row in pred_v], [row[k] for row in true_v]
        result[f"video_ccc_{name}"] = loop_ccc(p, t)
        result[f"video_pcc_{name}"] = float(pearsonr(p, t)[0])
        result[f"video_rmse_{name}"] = loop_rmse(p, t)
    result["video_ccc"] = (result["video_ccc_valence"] + result["video_ccc_arousal"]) / 2
    return result


@pytest.mark.parametrize("rule", VA_RULES)
def test_video_level_against_a_hand_computation(rule: str) -> None:
    rng = np.random.default_rng(10)
    lengths = rng.integers(1, 60, size=25).tolist()
    va, offsets = random_split(rng, lengths)
    va[rng.random(len(va)) < 0.2] = np.nan  # unannotated frames inside videos
    va[offsets[3]:offsets[4]] = np.nan  # a whole unannotated video
    va[offsets[6], 0] = np.nan  # half a label is no label
    lam = 0.6
    # Scores that carry the truth weakly: the true cell's neighbourhood is a little higher.
    scores = rng.normal(scale=0.2, size=(len(va), G * G)) - (1 - lam) + 0.15
    cells = [hand_bin(v, G) * G + hand_bin(a, G) for v, a in np.nan_to_num(va).tolist()]
    scores[np.arange(len(va)), cells] += 0.8
    metrics = va_metrics("test", scores, va, offsets, VAGrid(G), lam=lam, rule=rule)
    expected = hand_video_metrics(scores, va, offsets, lam, rule)
    for name, value in expected.items():
        assert metrics[f"test_{name}"] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert 0.0 < metrics["test_video_acc"] < 1.0  # neither trivially 0 nor 1
    annotated = [f for f in range(len(va)) if not np.isnan(va[f]).any()]
    assert metrics["test_annotated_frames"] == len(annotated)
    hits = [first_argmax(scores[f]) == hand_bin(va[f, 0], G) * G + hand_bin(va[f, 1], G)
            for f in annotated]
    assert metrics["test_frame_acc"] == pytest.approx(sum(hits) / len(hits))


def test_unannotated_frames_and_videos_change_nothing() -> None:
    rng = np.random.default_rng(11)
    lengths = rng.integers(10, 150, size=20).tolist()
    va, offsets = random_split(rng, lengths)
    lam = 0.5
    scores = rng.normal(scale=0.3, size=(len(va), G * G))
    base = va_metrics("val", scores, va, offsets, VAGrid(G), lam=lam)

    # Insert NaN-annotated frames with wild scores among each video's frames (their order kept),
    # half-labelled ones among them, and a whole unannotated video.
    new_va, new_scores, new_lengths = [], [], []
    for v, (start, stop) in enumerate(zip(offsets[:-1], offsets[1:], strict=True)):
        if v == 7:
            new_lengths.append(13)
            new_va.append(np.full((13, 2), np.nan))
            new_scores.append(rng.normal(scale=5.0, size=(13, G * G)))
        extra = int(rng.integers(0, 6))
        inserted = np.zeros(stop - start + extra, dtype=bool)
        inserted[rng.choice(len(inserted), size=extra, replace=False)] = True
        rows = np.full((len(inserted), 2), np.nan)
        rows[~inserted] = va[start:stop]
        rows[np.flatnonzero(inserted)[::2], 1] = 0.9  # half a label is no label
        frame_scores = rng.normal(scale=5.0, size=(len(inserted), G * G))
        frame_scores[~inserted] = scores[start:stop]
        new_va.append(rows)
        new_scores.append(frame_scores)
        new_lengths.append(len(rows))
    padded_va, padded_scores = np.concatenate(new_va), np.concatenate(new_scores)
    padded_offsets = np.concatenate([[0], np.cumsum(new_lengths)]).astype(np.int64)
    assert len(padded_va) > len(va)
    padded = va_metrics("val", padded_scores, padded_va, padded_offsets, VAGrid(G), lam=lam)
    assert padded.keys() == base.keys()
    for name, value in base.items():
        assert padded[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert base["val_annotated_frames"] == len(va)


def test_no_annotated_frames_and_bad_offsets() -> None:
    grid = VAGrid(4)
    metrics = va_metrics("val", np.zeros((6, 16)), np.full((6, 2), np.nan),
                         np.array([0, 2, 6]), grid, lam=0.5)
    assert metrics["val_annotated_frames"] == 0
    assert all(math.isnan(v) for k, v in metrics.items() if k != "val_annotated_frames")
    va = np.zeros((6, 2))
    for offsets in ([0, 2, 5], [1, 6], [0, 4, 2, 6]):
        with pytest.raises(ValueError, match="offsets"):
            va_metrics("val", np.zeros((6, 16)), va, np.array(offsets), grid, lam=0.5)
    with pytest.raises(ValueError, match="frame_va"):
        va_metrics("val", np.zeros((6, 16)), va[:5], np.array([0, 6]), grid, lam=0.5)
