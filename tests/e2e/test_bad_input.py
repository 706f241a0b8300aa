"""Every bad input: one line on stderr naming problem and fix, exit code 2, no traceback,
and nothing already under the storage path changed (issue: reliability, part 1)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import ray
import torch

from study.cli import build_parser, typed_settings
from study.run import main as run_main
from study.settings import new_settings
from tests.study_helpers import run_cli
from trainables.backbones import build_backbone
from trainables.synthetic_va import generate_va_dataset

KEPT = "kept"  # an existing study under the storage path, which no case may touch
QUICK = ["--trials", "1", "--epochs", "1"]


@dataclass
class Case:
    """``prepare(tmp) -> extra argv``; the run must fail with ``expected`` in its message."""

    name: str
    prepare: Callable[[Path], list[str]]
    expected: str
    name_flag: str = "fresh"
    test_split: bool = True  # pass --test-split Test (the tiny set is too small to hold out)
    embedded: bool = False  # the embedded data set, from an empty cache that must stay empty
    #: Run as its own ``python -m study.run`` process: the cases refused only after Ray has
    #: started (or data was decoded). The others are refused by the cheap checks before Ray,
    #: and run in this process through the same ``study.run.main`` (3 s less each).
    process: bool = False


class CodeInPickle:
    """Unpickling this runs code: it creates the file named ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def data_copy(tmp: Path) -> Path:
    return Path(shutil.copytree(tmp / "tiny", tmp / "data"))


def first_video(root: Path, split: str = "Train") -> Path:
    return sorted(path for path in (root / split).glob("*/*") if path.is_dir())[0]


def data_args(root: Path) -> list[str]:
    return ["--data-root", str(root)]


def missing_root(tmp: Path) -> list[str]:
    return data_args(tmp / "no-such-folder")


def missing_split(tmp: Path) -> list[str]:
    root = data_copy(tmp)
    shutil.rmtree(root / "Val")
    return data_args(root)


def unknown_emotion(tmp: Path) -> list[str]:
    root = data_copy(tmp)
    shutil.copytree(first_video(root), root / "Train" / "Contempt" / "000001")
    return data_args(root)


def empty_video(tmp: Path) -> list[str]:
    root = data_copy(tmp)
    (root / "Train" / "Happy" / "empty_video").mkdir()
    return data_args(root)


def corrupt_video(tmp: Path) -> list[str]:
    root = data_copy(tmp)
    video = first_video(root).rename(first_video(root).with_name("all_corrupt"))
    for number, frame in enumerate(sorted(video.iterdir())):
        frame.write_bytes(b"" if number % 2 else b"not a png at all")
    return data_args(root)


def data_changed(tmp: Path) -> list[str]:
    """A study whose stored fingerprint no longer matches the data on disk."""
    root = data_copy(tmp)
    argv = [*data_args(root), *QUICK, "--test-split", "Test"]
    settings = new_settings(typed_settings(build_parser().parse_args(argv)))
    study = tmp / "results" / "changed"
    study.mkdir()
    stale = {"data": {"source": "0" * 64, "target": "0" * 64}, "backbone": "0" * 64}
    (study / "study.json").write_text(json.dumps({"settings": settings.to_dict(),
                                                  "fingerprint": stale}))
    return [*data_args(root), "--resume"]


def weights(tmp: Path, content: object | bytes) -> list[str]:
    path = tmp / "weights.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return ["--backbone", "vgg16", "--backbone-weights", str(path)]


def pickle_with_code(tmp: Path) -> list[str]:
    return weights(tmp, CodeInPickle(tmp / "code-ran"))


def storage_is_file(tmp: Path) -> list[str]:
    (tmp / "a-file").write_text("x")
    return ["--storage-path", str(tmp / "a-file")]


def video_in_two_roles(tmp: Path) -> list[str]:
    """A manifest listing every tiny video once, plus one Train video again under Val."""
    root = tmp / "tiny"
    rows = ["video_dir,label,split"]
    for split in ("Train", "Val", "Test"):
        rows += [f"{video.relative_to(root).as_posix()},{video.parent.name},{split}"
                 for video in sorted((root / split).glob("*/*")) if video.is_dir()]
    twice = first_video(root)
    rows.append(f"{twice.relative_to(root).as_posix()},{twice.parent.name},Val")
    manifest = root / "roles.csv"  # video_dir is relative to the manifest's folder
    manifest.write_text("\n".join(rows) + "\n")
    return ["--manifest", str(manifest)]


def va_rows_short(tmp: Path) -> list[str]:
    """A valence-arousal set whose first Train annotation file lacks its last row."""
    root = generate_va_dataset(tmp / "va", seed=2, videos_per_split={"Train": 2, "Val": 2,
                                                                     "Test": 1},
                               frames_per_video=(4, 5), image_size=32, progress=False)
    annotation = sorted((root / "Train").glob("*.txt"))[0]
    annotation.write_text("\n".join(annotation.read_text().splitlines()[:-1]) + "\n")
    return ["--task", "va", "--data-root", str(root)]


def flags(*argv: str) -> Callable[[Path], list[str]]:
    return lambda tmp: list(argv)


CASES = [
    Case("data root missing", missing_root, "no-such-folder"),
    Case("split missing", missing_split, "Val"),
    Case("unknown emotion folder", unknown_emotion, "Contempt"),
    Case("empty video folder", empty_video, "empty_video"),
    Case("video with only corrupt frames", corrupt_video, "all_corrupt", process=True),
    Case("more GPUs than the cluster", flags("--gpus", "3"), "--gpus 3", process=True),
    Case("--resume of no study", flags("--resume"), "to resume", name_flag="nothing-here"),
    Case("existing name without --resume", flags(), "--resume", name_flag=KEPT),
    Case("--resume after the data changed", data_changed, "changed", name_flag="changed",
         process=True),
    Case("weights file missing", flags("--backbone", "vgg16", "--backbone-weights",
                                       "/no/such/weights.pt"), "weights.pt"),
    Case("weights not a checkpoint", lambda tmp: weights(tmp, b"plain text, not torch"),
         "weights.pt"),
    Case("weights of another architecture",
         lambda tmp: weights(tmp, build_backbone("small").state_dict()), "missing"),
    Case("weights pickle carrying code", pickle_with_code, "weights.pt"),
    Case("unknown --input-norm", flags("--input-norm", "imagenet"), "--input-norm"),
    Case("--input-norm vggface without VGG-Face weights", flags("--input-norm", "vggface"),
         "needs --backbone vgg16 and --backbone-weights"),
    Case("unreachable --address", flags("--address", "127.0.0.1:9"), "127.0.0.1:9", process=True),
    Case("storage path is a file", storage_is_file, "a-file"),
    Case("storage path not writable", flags("--storage-path", "/proc/self/studies"),
         "not writable"),
    Case("storage URI pyarrow cannot open", flags("--storage-path", "nosuch://bucket/studies"),
         "nosuch://bucket/studies"),
    Case("storage URI not writable", flags("--storage-path", "file:///proc/self/studies"),
         "cannot write to file:///proc/self/studies"),
    Case("unknown --space", flags("--space", "nonsense"), "nonsense"),
    Case("one split in two roles", flags("--source-split", "Val"),
         "--source-split and --target-split"),
    Case("one video in two roles", video_in_two_roles, "in both the source split"),
    Case("--test-split and --target-holdout", flags("--target-holdout", "0.2"),
         "--test-split and --target-holdout"),
    Case("--target-holdout on too few videos", flags("--target-holdout", "0.3"),
         "needs at least 2 target videos", test_split=False),
    Case("--repeats with ASHA", flags("--repeats", "2", "--scheduler", "asha"), "asha"),
    Case("--objectives with ASHA", flags("--objectives", "target_video_acc,source_video_acc",
                                         "--scheduler", "asha"), "ASHA prunes on one metric"),
    Case("--objectives with --repeats", flags("--objectives",
                                              "target_video_acc,source_video_acc",
                                              "--repeats", "2"), "Repeater averages one"),
    # Refused before the embedded set is generated: cheap checks come before data work.
    Case("more GPUs than the cluster, empty cache", flags("--gpus", "64"), "--gpus 64",
         test_split=False, embedded=True, process=True),
    Case("unknown split of the embedded set", flags("--source-split", "Training"),
         "Training", test_split=False, embedded=True),
    Case("--optuna-storage Optuna cannot open, password hidden",
         flags("--optuna-storage", "postgresql://me:s3cret@127.0.0.1:9/studies"),
         "postgresql://me:***@127.0.0.1:9/studies", test_split=False, embedded=True),
    Case("--optuna-storage not a URL", flags("--optuna-storage", "results/optuna.db"),
         "not a database URL"),
    Case("valence-arousal rows differ from the frames", va_rows_short, "annotation rows for"),
]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*"))}


@pytest.fixture
def workspace(tmp_path: Path, tiny_data: Path) -> Path:
    shutil.copytree(tiny_data, tmp_path / "tiny")
    kept = tmp_path / "results" / KEPT
    kept.mkdir(parents=True)
    (kept / "study.json").write_text('{"settings": {}}')
    (kept / "trials.csv").write_text("trial_id\nabc\n")
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_gets_one_clear_line(case: Case, workspace: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    cache = workspace / "empty-cache"
    if case.embedded:
        cache.mkdir()
        monkeypatch.setenv("EMOTION_STUDY_CACHE", str(cache))
    argv = [*([] if case.embedded else ["--data-root", str(workspace / "tiny")]),
            "--storage-path", str(workspace / "results"), "--name", case.name_flag,
            "--no-progress", *QUICK, *(["--test-split", "Test"] if case.test_split else []),
            *case.prepare(workspace)]
    before = snapshot(workspace / "results")
    if case.process:
        result = run_cli(argv, timeout=180)
        code, out, err = result.returncode, result.stdout, result.stderr
    else:
        monkeypatch.setenv("RAY_AUTH_MODE", os.environ.get("RAY_AUTH_MODE", "token"))
        capfd.readouterr()
        try:
            code = run_main(argv)
        except SystemExit as stopped:  # argparse's refusals
            code = stopped.code
        out, err = capfd.readouterr()
        assert not ray.is_initialized(), "a cheap-check case started Ray: mark it process=True"
    assert code == 2, out[-1000:] + err[-2000:]
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert case.expected in lines[0], lines[0]
    assert snapshot(workspace / "results") == before
    assert not (workspace / "code-ran").exists(), "unpickling user weights ran code"
    if case.embedded:
        assert list(cache.iterdir()) == [], "data work began before the input was refused"
