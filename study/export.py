"""``python -m study.export --name STUDY [--trial ID] OUT.onnx``: the study's frozen CNN and a
trained NetA, with NetB's Z, as one ONNX file.

Input ``frames``: float32 ``(T, 3, H, W)`` RGB in the study's ``[-1, 1]`` (a uint8 pixel
``p`` is ``p / 127.5 - 1``, :func:`trainables.data.to_model_input`), the frames of one video,
any ``T >= 1``. Outputs ``scores`` (float64 ``(T, C)``, :func:`trainables.loss.predict` with
the trial's lam, normalisation and tau) and ``X`` (float32 ``(T, n)``, eq. 4). The RNN runs
in the study's evaluation windows of ``seq_len`` frames (:mod:`trainables.exportable`). The
file's metadata names the classes (score columns, in order), ``seq_len`` and the trial.

Needs the ``export`` extra (onnx, onnxscript for torch's exporter, onnxruntime to check the
file): ``pip install -e ".[export]"``. After writing, the file is run in onnxruntime on
random frames spanning two windows and compared with torch.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from study.cli import OneLineParser
from study.trained import TrainedTrial, add_study_flags, check_output, open_trained
from trainables.backbones import feature_dim
from trainables.engine import SplitArrays
from trainables.errors import UserInputError
from trainables.exportable import ExportableNetA
from trainables.io import atomic_path
from trainables.model import CNNRNN

OPSET = 18            # the exporter's lowest; onnxruntime >= 1.14 runs it
TOLERANCE = 1e-4      # largest |onnxruntime - torch| accepted by the check
CHECK_SEED = 0
INPUT, OUTPUTS = "frames", ("scores", "X")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m study.export",
                           description="Export the study's frozen CNN and a trained NetA, with "
                                       "NetB's Z, to ONNX: frames (T, 3, H, W) in [-1, 1] -> "
                                       "per-frame scores and X.")
    parser.add_argument("out", metavar="OUT.onnx", help="the ONNX file to write")
    add_study_flags(parser)
    return parser


def input_template(trained: TrainedTrial, backbone: torch.nn.Module) -> SplitArrays:
    """One frame (or its CNN features): what tells the network builder the inputs' kind,
    width and classes."""
    size, classes = trained.backbone.image_size, trained.classes
    if trained.backbone.trainable:
        kind, inputs = "frames", np.zeros((1, size, size, 3), np.uint8)
    else:
        kind, inputs = "features", np.zeros((1, feature_dim(backbone, size)), np.float32)
    return SplitArrays("template", kind, inputs, np.zeros(1, np.int64), np.array([0, 1]),
                       np.zeros(1, np.int64), classes)


def exportable(trained: TrainedTrial) -> ExportableNetA:
    """The trial's NetA at its selected epoch behind the study's CNN (its trained copy when
    the study trained the CNN), with Z and the trial's loss settings."""
    backbone = trained.backbone.module()
    network = trained.evaluator.network(trained.trial, input_template(trained, backbone))
    if isinstance(network, CNNRNN):
        backbone, network = network.backbone, network.head
    return ExportableNetA(backbone.eval(), network, torch.as_tensor(trained.evaluator.z),
                          lam=trained.lam, normalisation=trained.normalisation,
                          seq_len=trained.network_settings.seq_len, tau=trained.tau)


def metadata(trained: TrainedTrial) -> dict[str, str]:
    settings = trained.network_settings
    return {"classes": json.dumps(list(trained.classes)), "seq_len": str(settings.seq_len),
            "lam": repr(trained.lam), "normalisation": trained.normalisation,
            "tau": repr(trained.tau), "study": trained.study.layout.name,
            "trial": trained.trial.trial_id, "selected_epoch": str(trained.trial.selected_epoch),
            "frames": f"float32 (T, 3, {trained.backbone.image_size}, "
                      f"{trained.backbone.image_size}) RGB in [-1, 1] (pixel / 127.5 - 1)",
            "scores": "float64 (T, C): trainables.loss.predict, columns in the order of classes",
            "X": "float32 (T, n): the RNN's representations (eq. 4)"}


def export_onnx(model: ExportableNetA, path: Path, example: torch.Tensor,
                properties: dict[str, str]) -> None:
    """``torch.onnx.export`` (the dynamo exporter) with ``T`` dynamic, written atomically."""
    try:
        import onnxscript  # noqa: F401  torch's exporter needs it; say so before it fails
    except ImportError:
        raise UserInputError('study.export needs the export extra: pip install -e ".[export]"'
                             ) from None
    frames = torch.export.Dim("T", min=1)
    exporter_log = logging.getLogger("torch.onnx")  # e.g. "torchvision is not installed"
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)  # torch.export internals
            warnings.filterwarnings("ignore", message=".*were assigned during export")  # RNNs
            program = torch.onnx.export(model, (example,), dynamo=True, opset_version=OPSET,
                                        input_names=[INPUT], output_names=list(OUTPUTS),
                                        dynamic_shapes={INPUT: {0: frames}}, verbose=False)
    finally:
        exporter_log.setLevel(level)
    program.model.metadata_props.update(properties)
    with atomic_path(path, ".onnx") as temporary:
        program.save(temporary, external_data=False)


def check_onnx(path: Path, model: ExportableNetA, frames: torch.Tensor) -> dict[str, float]:
    """Largest |onnxruntime - torch| of each output on ``frames``; {} without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return {}
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    found = session.run(list(OUTPUTS), {INPUT: frames.numpy()})
    with torch.no_grad():
        expected = model(frames)
    return {name: float(np.abs(got - want.numpy()).max())
            for name, got, want in zip(OUTPUTS, found, expected, strict=True)}


def example_frames(model: ExportableNetA, image_size: int) -> torch.Tensor:
    """Random frames in [-1, 1] spanning two windows (the second one shorter)."""
    generator = torch.Generator().manual_seed(CHECK_SEED)
    count = model.seq_len + max(1, model.seq_len // 2)
    return torch.rand(count, 3, image_size, image_size, generator=generator) * 2 - 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    path = Path(args.out).expanduser()
    check_output(parser, "OUT.onnx", path)
    try:
        trained = open_trained(args.storage_path, args.name, args.trial)
        print(trained.describe())
        model = exportable(trained)
        frames = example_frames(model, trained.backbone.image_size)
        print(f"Exporting to {path} (ONNX opset {OPSET}) ...")
        export_onnx(model, path, frames, metadata(trained))
    except UserInputError as error:
        sys.stderr.write(f"study.export: error: {error}\n")
        return 2
    differences = check_onnx(path, model, frames)
    if not differences:
        print(f"Wrote {path}; onnxruntime is not installed, so it was not checked.")
        return 0
    worst = max(differences.values())
    summary = ", ".join(f"{name} {value:.2e}" for name, value in differences.items())
    if worst > TOLERANCE:
        sys.stderr.write(f"study.export: error: {path} does not match torch on {len(frames)} "
                         f"random frames (largest |difference|: {summary})\n")
        return 1
    print(f"Wrote {path}: onnxruntime matches torch on {len(frames)} random frames "
          f"(largest |difference|: {summary}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
