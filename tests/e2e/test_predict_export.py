"""python -m study.predict and python -m study.export on a tiny finished study (issue #12,
part 3), as a lab runs them.

predict's scores must be the study's own numbers: the report's re-evaluation of the kept
checkpoint on the target split (Evaluator.evaluate), read back from the CSV exactly, and the
video and frame accuracies the trial reported at its selected epoch. The ONNX file must match
torch and the study's evaluation of the same frames (on float32 CNN features) in onnxruntime.
Bad input: one line on stderr, exit code 2, no traceback.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from study.report.evaluator import Evaluator
from study.report.loading import find_study, load_study
from study.report.records import TrialRecord
from tests.study_helpers import REPO, run_cli, study_args
from trainables.config import DEFAULT_CLASSES, TARGET
from trainables.data import load_split, to_model_input
from trainables.engine import SplitArrays
from trainables.metrics import video_scores
from trainables.model import SequenceHead
from trainables.network import NetworkSettings

NAME = "applied"
SCORES = [f"score_{name}" for name in DEFAULT_CLASSES]


def tool(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"study.{module}", *args], cwd=REPO,
                          env=os.environ.copy(), text=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    """A finished tiny study: one configuration with two seeds (so best.json has two trials)."""
    folder = tmp_path_factory.mktemp("results")
    done = run_cli(study_args(tiny_data, folder, NAME, trials=1, extra=("--repeats", "2")))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder


def study_flags(storage: Path) -> list[str]:
    return ["--name", NAME, "--storage-path", str(storage)]


def best_trials(storage: Path) -> list[str]:
    return json.loads((storage / NAME / "best.json").read_text())["trial_ids"]


def fresh_process_threads() -> int:
    """The torch threads a new Python process starts with on this machine."""
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                           capture_output=True, text=True, timeout=120, check=True)
    return int(probe.stdout)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def read_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def numbers(rows: list[dict[str, str]]) -> np.ndarray:
    return np.array([[float(row[column]) for column in SCORES] for row in rows])


def numpy_scores(trial: TrialRecord, z: np.ndarray, arrays: SplitArrays) -> np.ndarray:
    """Per-frame scores from the trial's best.pt, each video one sequence (all are shorter
    than a window here), ``lam O - (1 - lam) f(V)`` computed in float64 numpy."""
    settings = NetworkSettings.from_config(trial.config)
    head = SequenceHead(arrays.inputs.shape[1], len(arrays.classes), settings.head)
    head.load_state_dict(torch.load(trial.checkpoint / "best.pt", weights_only=True)["network"])
    head.eval()
    offsets = arrays.video_offsets
    assert np.diff(offsets).max() <= settings.seq_len
    lam, tau = trial.lam, float(trial.config.get("tau", 1.0))
    scores = []
    for start, end in zip(offsets[:-1], offsets[1:], strict=True):
        features = torch.from_numpy(np.asarray(arrays.inputs[start:end], np.float32))
        with torch.no_grad():
            outputs, x = (t[0].double().numpy() for t in head(features[None]))
        distances = ((z[None].astype(np.float64) - x[:, None]) ** 2).sum(axis=-1)
        if trial.config["normalisation"] == "softmax":
            f = np.exp((distances - distances.max(axis=1, keepdims=True)) / tau)
            f = f / f.sum(axis=1, keepdims=True)  # softmax(V / tau)
        else:
            f = distances / distances.sum(axis=1, keepdims=True)
        scores.append(lam * outputs - (1 - lam) * f)
    return np.concatenate(scores)


def test_predict_gives_the_study_evaluation(storage: Path, tiny_data: Path,
                                            tmp_path: Path) -> None:
    out = tmp_path / "val.csv"
    done = tool("predict", *study_flags(storage), "--data-root", str(tiny_data), "--split",
                "Val", "--frames", "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    first, seeds = best_trials(storage)[0], len(best_trials(storage))
    assert seeds == 2 and f"trial {first}, the first of the 2 seeds" in done.stderr

    study = load_study(find_study(str(storage), NAME))
    trial = next(t for t in study.trials if t.trial_id == first)
    evaluator = Evaluator(study)
    assert evaluator.problem is None
    # float32 matrix products round differently with another thread count (earlier tests
    # set this process's): score with the threads a fresh process, like predict's, has.
    with torch_threads(fresh_process_threads()):
        expected = evaluator.evaluate(trial, TARGET)  # Val is the whole target split here
    arrays = evaluator.arrays(TARGET)

    rows = read_rows(out.read_text())
    videos = [row for row in rows if row["level"] == "video"]
    frames = [row for row in rows if row["level"] == "frame"]
    assert list(rows[0]) == ["level", "video", "path", "label", "frames", "frame", *SCORES,
                             "predicted"]
    assert len(frames) == arrays.num_frames and len(videos) == len(arrays.video_labels)
    # Exact: the CSV's float64 read back equals the evaluation's, frame by frame.
    frame_diff = np.abs(numbers(frames) - expected.scores).max()
    per_video = video_scores(expected.scores, arrays.video_offsets)
    video_diff = np.abs(numbers(videos) - per_video).max()
    print(f"\npredict vs Evaluator.evaluate(trial {first}, target): {arrays.num_frames} frames, "
          f"max |diff| frames {frame_diff:.3g}, videos {video_diff:.3g}")
    assert np.array_equal(numbers(frames), expected.scores)
    assert np.array_equal(numbers(videos), per_video)
    assert [int(v["frames"]) for v in videos] == np.diff(arrays.video_offsets).tolist()
    assert [v["label"] for v in videos] == [DEFAULT_CLASSES[i] for i in arrays.video_labels]
    assert [v["predicted"] for v in videos] == [DEFAULT_CLASSES[i]
                                                for i in per_video.argmax(axis=1)]

    assert [f["predicted"] for f in frames] == [DEFAULT_CLASSES[i]
                                                for i in expected.scores.argmax(axis=1)]
    # Independently of trainables.engine and trainables.loss: the kept weights on each video's
    # cached features, and eq. (9)'s scores in numpy with the trial's lam, f and tau.
    reference = numpy_scores(trial, evaluator.z, arrays)
    gap = np.abs(numbers(frames) - reference).max()
    print(f"predict vs a numpy reference of lam O - (1 - lam) f(V): max |diff| {gap:.2e}")
    assert gap < 1e-6

    # The accuracies the trial reported at its selected epoch, from the CSV alone.
    video_acc = np.mean([v["predicted"] == v["label"] for v in videos])
    frame_acc = np.mean([f["predicted"] == f["label"] for f in frames])
    print(f"video accuracy {video_acc} (trial reported {trial.value('target_video_acc')}), "
          f"frame accuracy {frame_acc} (reported {trial.value('target_frame_acc')})")
    assert video_acc == trial.value("target_video_acc")
    assert frame_acc == trial.value("target_frame_acc")


def test_folders_of_frames_are_unlabelled(storage: Path, tiny_data: Path) -> None:
    folders = sorted(p for p in (tiny_data / "Val").glob("*/*") if p.is_dir())[:2]
    done = tool("predict", *study_flags(storage), *map(str, folders), "--no-progress")
    assert done.returncode == 0, done.stderr
    rows = read_rows(done.stdout)  # the CSV on standard output, messages on standard error
    assert [row["video"] for row in rows] == [folder.name for folder in folders]
    assert all(row["label"] == "" and row["frame"] == "" for row in rows)
    assert [int(row["frames"]) for row in rows] == [len(list(f.iterdir())) for f in folders]
    labelled = read_rows(tool("predict", *study_flags(storage), "--data-root", str(tiny_data),
                              "--split", "Val", "--no-progress").stdout)
    by_path = {row["path"]: row for row in labelled}
    same = [by_path[str(folder)] for folder in folders]
    np.testing.assert_allclose(numbers(rows), numbers(same), rtol=1e-6, atol=1e-9)


def test_export_runs_in_onnxruntime_as_in_torch(storage: Path, tiny_data: Path,
                                                 tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    from study.export import exportable
    from study.trained import open_trained

    path = tmp_path / "neta.onnx"
    done = tool("export", *study_flags(storage), str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "onnxruntime matches torch" in done.stdout
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == list(DEFAULT_CLASSES)

    trained = open_trained(str(storage), NAME, None)
    seq_len = trained.network_settings.seq_len
    assert int(meta["seq_len"]) == seq_len and meta["trial"] == trained.trial.trial_id
    frames = torch.rand(2 * seq_len + 3, 3, 96, 96, generator=torch.Generator().manual_seed(5))
    frames = frames * 2 - 1
    scores, representations = session.run(["scores", "X"], {"frames": frames.numpy()})
    assert scores.dtype == np.float64 and representations.dtype == np.float32

    with torch.no_grad():
        torch_scores, torch_x = exportable(trained)(frames)
        features = trained.backbone.module()(frames).numpy()
    length = len(frames)
    arrays = SplitArrays("new", "features", features, np.zeros(length, np.int64),
                         np.array([0, length]), np.zeros(1, np.int64), DEFAULT_CLASSES)
    evaluated = trained.evaluator.score(trained.trial, arrays)
    differences = {"torch scores": np.abs(scores - torch_scores.numpy()).max(),
                   "torch X": np.abs(representations - torch_x.numpy()).max(),
                   "evaluation scores": np.abs(scores - evaluated.scores).max(),
                   "evaluation X": np.abs(representations - evaluated.representations).max()}
    print(f"\nonnxruntime vs ({length} frames, windows of {seq_len}): " +
          ", ".join(f"{key} {value:.2e}" for key, value in differences.items()))
    assert max(differences.values()) < 1e-4

    # The study's own videos: the evaluation scored fp16-cached features, ONNX float32 ones.
    evaluator = Evaluator(load_study(find_study(str(storage), NAME)))
    assert evaluator.problem is None
    expected, arrays = evaluator.evaluate(trained.trial, TARGET), evaluator.arrays(TARGET)
    split = load_split(tiny_data, "Val", progress=False)
    found = np.concatenate([session.run(["scores"], {"frames": to_model_input(
        split.frames[start:end]).numpy()})[0] for start, end in
        zip(split.video_offsets[:-1], split.video_offsets[1:], strict=True)])
    gap = np.abs(found - expected.scores).max()
    agree = np.mean(found.argmax(1) == expected.scores.argmax(1))
    print(f"onnxruntime vs the study's evaluation of its {arrays.num_frames} Val frames: max "
          f"|diff| {gap:.2e} (fp16 feature cache), same predicted class for {agree:.0%}")
    assert gap < 1e-3


@pytest.fixture
def without_checkpoint(storage: Path) -> Callable[[], str]:
    """The second seed's trial with its checkpoint moved away (put back afterwards)."""
    moved: list[tuple[Path, Path]] = []

    def take() -> str:
        trial = best_trials(storage)[1]
        for checkpoint in (storage / NAME).glob(f"trial_{trial}/checkpoint_*"):
            aside = storage / f"aside-{checkpoint.name}"
            moved.append((aside, checkpoint))
            checkpoint.rename(aside)
        return trial

    yield take
    for aside, checkpoint in moved:
        aside.rename(checkpoint)


def other_classes(tmp: Path, tiny: Path) -> list[str]:
    root = Path(shutil.copytree(tiny / "Val", tmp / "data" / "Val"))
    shutil.copytree(next(p for p in (root / "Happy").iterdir()), root / "Contempt" / "1")
    return ["--data-root", str(tmp / "data"), "--split", "Val"]


def empty_folder(tmp: Path, tiny: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return [str(tmp / "empty")]


CASES = {
    "missing study": ("predict", ["--name", "nosuch"], ["x"], "no study 'nosuch'"),
    "unknown trial": ("predict", ["--trial", "nosuch"], ["x"], "has no trial 'nosuch'"),
    "no checkpoint": ("predict", ["--trial", "SECOND"], ["x"], "has no checkpoint to apply"),
    "other classes": ("predict", [], other_classes, "unknown emotion folder"),
    "empty folder": ("predict", [], empty_folder, "holds no .png/.jpg/.jpeg frame"),
    "no videos": ("predict", [], [], "give the videos one way"),
    "two sources": ("predict", ["--manifest", "m.csv"], ["x"], "both give videos"),
    "export: missing study": ("export", ["--name", "nosuch"], ["x.onnx"], "no study 'nosuch'"),
    "export: unknown trial": ("export", ["--trial", "nosuch"], ["x.onnx"],
                              "has no trial 'nosuch'"),
    "export: no checkpoint": ("export", ["--trial", "SECOND"], ["x.onnx"],
                              "has no checkpoint to apply"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_one_line(case: str, storage: Path, tiny_data: Path, tmp_path: Path,
                                 without_checkpoint: Callable[[], str]) -> None:
    module, flags, rest, expected = CASES[case]
    if "SECOND" in flags:
        flags = [without_checkpoint() if flag == "SECOND" else flag for flag in flags]
    tail = rest(tmp_path, tiny_data) if callable(rest) else [str(tmp_path / r) for r in rest]
    base = study_flags(storage)
    if "--name" in flags:
        base = ["--storage-path", str(storage)]
    done = tool(module, *base, *flags, *tail)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert expected in lines[0] and f"study.{module}: error: " in lines[0]
