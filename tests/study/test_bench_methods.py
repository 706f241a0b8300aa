"""``python -m study.bench --methods``: the table's numbers (mean, Student's t interval, the
difference to source_only, NetB's row), a tiny real run whose held-out figures are read at the
epoch the target accuracy selects, and the CLI's refusal of two benchmarks at once."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from scipy import stats

from study.bench import cli
from study.bench.methods import (
    CENTROID_DEFAULTS,
    NETB,
    format_methods_table,
    method_config,
    methods_run,
    methods_summary,
    methods_table,
)
from trainables.config import METHODS
from trainables.engine import SplitArrays, StudyArrays
from trainables.network import NetworkSettings

CLASSES = ("a", "b", "c", "d")
HELDOUT = {"source_only": [0.50, 0.60, 0.70], "centroid": [0.60, 0.70, 0.90],
           "coral": [0.90, 1.00, 1.00], NETB: [0.80, 0.85, 0.90]}


def _records() -> list[dict[str, Any]]:
    return [{"method": method, "seed": seed, "heldout_video_acc": value,
             "target_video_acc": value + 0.05, "source_video_acc": 0.9, "learned": seed != 1,
             "seconds": 10.0 * (seed + 1)}
            for method, values in HELDOUT.items() for seed, value in enumerate(values)]


def _t_interval(values: list[float]) -> tuple[float, float]:
    data = np.asarray(values)
    half = stats.t.ppf(0.975, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data))
    return data.mean() - half, data.mean() + half


def test_table_has_means_t_intervals_and_the_difference_to_source_only() -> None:
    table = methods_table(_records())
    assert list(table.index) == ["centroid", "source_only", "coral", NETB]  # METHODS' order
    for method, values in HELDOUT.items():
        row = table.loc[method]
        low, high = _t_interval(values)
        assert row["seeds"] == 3 and row["learned"] == 2
        assert row["heldout_mean"] == pytest.approx(np.mean(values))
        assert row["heldout_low"] == pytest.approx(max(low, 0.0))
        assert row["heldout_high"] == pytest.approx(min(high, 1.0))
        assert row["target_mean"] == pytest.approx(np.mean(values) + 0.05)
        assert row["source_mean"] == pytest.approx(0.9)
        assert row["seconds"] == pytest.approx(20.0)
        assert row["minus_source_only"] == pytest.approx(np.mean(values) - 0.6)
    assert _t_interval(HELDOUT["coral"])[1] > 1 and table.loc["coral", "heldout_high"] == 1.0


def test_printed_table_and_summary() -> None:
    records = _records()
    table = methods_table(records)
    printed = format_methods_table(table).set_index("method")
    assert printed.loc["NetB (target labels)", "held-out minus source_only"] == "+0.250"
    assert printed.loc["source_only", "held-out minus source_only"] == "+0.000"
    low, high = _t_interval(HELDOUT["source_only"])
    assert printed.loc["source_only", "held-out video [95% CI]"] == (
        f"{np.mean(HELDOUT['source_only']):.3f} [{low:.3f}, {high:.3f}]")
    assert printed.loc["coral", "learned"] == "2/3"
    summary = methods_summary(records, table)
    json.dumps(summary, allow_nan=False)
    assert summary["centroid"]["per_seed"]["heldout_video_acc"] == HELDOUT["centroid"]
    assert summary["centroid"]["per_seed"]["seed"] == [0, 1, 2]
    assert summary["centroid"]["per_seed"]["learned"] == [True, False, True]
    assert summary["centroid"]["learned"] == 2 and summary["centroid"]["seeds"] == 3
    assert summary["centroid"]["seconds"] == pytest.approx(20.0)
    assert summary[NETB]["minus_source_only"] == pytest.approx(0.25)
    one_seed = methods_summary(records[:1], methods_table(records[:1]))
    assert one_seed["source_only"]["heldout_low"] is None  # no interval from one value


def test_every_method_gets_the_same_config_but_its_own_knobs() -> None:
    settings = NetworkSettings()
    configs = {m: method_config(m, settings, epochs=4, seed=2) for m in METHODS}
    assert "method" not in configs["centroid"]  # absent: the paper's centroid loss
    shared = {k: v for k, v in configs["centroid"].items() if k not in CENTROID_DEFAULTS}
    for method in METHODS[1:]:
        assert configs[method] == {**shared, "method": method}  # no weight: the default
    assert shared["epochs"] == 4 and shared["seed"] == 2
    assert shared["metric"] == "target_video_acc" and shared["cell"] == "gru"


def _split(rng: np.random.Generator, name: str) -> SplitArrays:
    labels = np.repeat(np.arange(4), 6)
    lengths = rng.integers(5, 15, labels.size)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    frame_labels = np.repeat(labels, lengths)
    features = rng.normal(0, 1.5, (offsets[-1], 16)) + frame_labels[:, None]
    return SplitArrays(name, "features", features.astype(np.float16), frame_labels, offsets,
                       labels, CLASSES)


def test_a_tiny_run_reads_every_figure_at_the_target_selected_epoch() -> None:
    rng = np.random.default_rng(3)
    data = StudyArrays(_split(rng, "s"), _split(rng, "t"), _split(rng, "h"))
    epochs: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    records = methods_run(data, seeds=2, netb_epochs=1, neta_epochs=2,
                          settings=NetworkSettings(seq_len=8, fc_units=32, rnn_hidden=16,
                                                   batch_size=4),
                          on_epoch=lambda method, seed, row: epochs[method, seed].append(row),
                          threads=1)  # tiny tensors: one thread is the fastest
    assert sorted((r["method"], r["seed"]) for r in records) == sorted(
        (m, s) for m in (*METHODS, NETB) for s in (0, 1))
    for record in records:
        if record["method"] == NETB:
            assert 0 <= record["heldout_video_acc"] <= 1 and record["epochs_run"] == 1
            continue
        rows = epochs[record["method"], record["seed"]]
        assert [row["epoch"] for row in rows] == [1, 2]
        chosen = rows[int(np.argmax([row["target_video_acc"] for row in rows]))]
        assert record["selected_epoch"] == chosen["epoch"]
        for name in ("heldout_video_acc", "target_video_acc", "source_video_acc"):
            assert record[name] == chosen[name]
    table = methods_table(records)
    assert list(table.index) == [*METHODS, NETB] and (table["seeds"] == 2).all()
    summary = methods_summary(records, table)
    json.dumps(summary, allow_nan=False)
    assert summary["mmd"]["per_seed"]["selected_epoch"] == [
        r["selected_epoch"] for r in records if r["method"] == "mmd"]
    assert summary[NETB]["per_seed"]["epochs_run"] == [1, 1]


def test_methods_and_learning_together_are_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--methods", "--learning"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and "--methods" in captured.err
