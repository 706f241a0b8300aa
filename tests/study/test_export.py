"""The ONNX file of study.export, run in onnxruntime, against the study's own evaluation
(trainables.engine.evaluate on the same CNN's features) and torch, for any number of frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from study.export import INPUT, OPSET, OUTPUTS, TOLERANCE, export_onnx
from tests.trainables.test_exportable import CLASSES, IMAGE, LENGTHS, SEQ_LEN, parts, reference
from trainables.exportable import ExportableNetA

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

OPTIONS = dict(lam=0.4, normalisation="softmax", tau=3.0)


@pytest.mark.slow  # exports to ONNX and runs onnxruntime
@pytest.mark.parametrize("cell", ["gru", "blstm"])
def test_onnxruntime_matches_the_evaluation_for_any_length(cell: str, tmp_path: Path) -> None:
    backbone, head, centroids = parts(cell, seed=3)
    model = ExportableNetA(backbone, head, centroids, seq_len=SEQ_LEN, **OPTIONS)
    path = tmp_path / "neta.onnx"
    example = torch.rand(SEQ_LEN + 2, 3, IMAGE, IMAGE) * 2 - 1
    export_onnx(model, path, example, {"classes": ",".join(CLASSES)})

    stored = onnx.load(str(path))
    assert {p.key: p.value for p in stored.metadata_props}["classes"] == ",".join(CLASSES)
    assert [o.version for o in stored.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(4)
    for length in LENGTHS:
        frames = torch.rand(length, 3, IMAGE, IMAGE, generator=generator) * 2 - 1
        scores, representations = session.run(list(OUTPUTS), {INPUT: frames.numpy()})
        assert scores.dtype == np.float64 and representations.dtype == np.float32
        assert scores.shape == (length, len(CLASSES))
        want_scores, want_x = reference(backbone, head, centroids, frames, **OPTIONS)
        np.testing.assert_allclose(scores, want_scores, rtol=0, atol=TOLERANCE,
                                   err_msg=f"T={length}")
        np.testing.assert_allclose(representations, want_x, rtol=0, atol=TOLERANCE,
                                   err_msg=f"T={length}")
        with torch.no_grad():
            torch_scores, _ = model(frames)
        np.testing.assert_allclose(scores, torch_scores.numpy(), rtol=0, atol=TOLERANCE)
