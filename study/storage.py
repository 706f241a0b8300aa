"""Studies kept at a URI (``s3://``, ``gs://``, ``hdfs://``, ``file://``...) through pyarrow.fs.

Ray Tune writes the experiment and trial folders (checkpoints included) to the URI itself.
The study's own files (``study.json``, NetB, TensorBoard logs, ``trials.csv``,
``best.json``, the report) are written to a local mirror first and then uploaded, because
``torch.save`` and TensorBoard's event writer need a local file. A resumed study downloads
them again, so any machine can resume it.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow
import pyarrow.fs as pafs
from ray import tune

from trainables.config import cache_root
from trainables.errors import UserInputError


def is_uri(storage_path: str) -> bool:
    return "://" in storage_path


def first_line(error: BaseException) -> str:
    """pyarrow's errors run to many lines (AWS details); a one-line error keeps the first."""
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def mirror_folder(storage_uri: str) -> Path:
    """The local mirror of one storage URI (one folder per URI, under the data cache)."""
    digest = hashlib.sha256(storage_uri.encode()).hexdigest()[:16]
    return cache_root() / "remote-studies" / digest


@dataclass(frozen=True)
class RemoteFolder:
    """A folder on a pyarrow filesystem, named by its URI."""

    uri: str
    filesystem: pafs.FileSystem
    path: str

    @classmethod
    def open(cls, uri: str) -> RemoteFolder:
        uri = uri.rstrip("/")
        try:
            filesystem, path = pafs.FileSystem.from_uri(uri)
        except (pyarrow.ArrowException, OSError, ValueError) as error:
            raise UserInputError(f"--storage-path {uri}: pyarrow cannot open it "
                                 f"({first_line(error)}); "
                                 f"check the URI (s3://, gs://, hdfs://, file://), its "
                                 f"credentials and the network, or give a shared folder"
                                 ) from None
        return cls(uri, filesystem, path.rstrip("/"))

    def child(self, name: str) -> RemoteFolder:
        return RemoteFolder(f"{self.uri}/{name}", self.filesystem, f"{self.path}/{name}")

    def info(self, relative: str = "") -> pafs.FileInfo:
        return self.filesystem.get_file_info(self._path(relative))

    def has(self, relative: str) -> bool:
        return self.info(relative).type != pafs.FileType.NotFound

    def is_empty(self) -> bool:
        if self.info().type != pafs.FileType.Directory:
            return True
        selector = pafs.FileSelector(self.path, allow_not_found=True)
        return not self.filesystem.get_file_info(selector)

    def check_writable(self) -> None:
        """A real write (removed at once), so a bad bucket fails before NetB, not after."""
        probe = self._path(f".write-probe-{uuid.uuid4().hex}")
        try:
            self.filesystem.create_dir(self.path, recursive=True)
            with self.filesystem.open_output_stream(probe) as stream:
                stream.write(b"probe")
            self.filesystem.delete_file(probe)
        except (pyarrow.ArrowException, OSError) as error:
            raise UserInputError(f"cannot write to {self.uri} under --storage-path "
                                 f"({first_line(error)}); "
                                 f"check the URI and its credentials") from None

    def upload(self, local: Path, relative: str) -> None:
        """Copy ``local`` (a file or a folder) to ``relative`` below this folder."""
        if not local.exists():
            return
        destination = self._path(relative)
        if local.is_dir():
            self.filesystem.create_dir(destination, recursive=True)
        else:
            self.filesystem.create_dir(destination.rpartition("/")[0], recursive=True)
        pafs.copy_files(str(local), destination, source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=self.filesystem)

    def download(self, relative: str, local: Path) -> None:
        """Copy ``relative`` (a file or a folder), if it exists, to ``local``."""
        kind = self.info(relative).type
        if kind == pafs.FileType.NotFound:
            return
        # copy_files makes the folders below its destination, not the destination itself.
        (local if kind == pafs.FileType.Directory else local.parent).mkdir(parents=True,
                                                                            exist_ok=True)
        pafs.copy_files(self._path(relative), str(local), source_filesystem=self.filesystem,
                        destination_filesystem=pafs.LocalFileSystem())

    def _path(self, relative: str) -> str:
        return f"{self.path}/{relative}" if relative else self.path


#: Seconds between uploads of the TensorBoard logs while trials report.
UPLOAD_PERIOD_S = 30.0


class UploadCallback(tune.Callback):
    """Uploads the driver's TensorBoard logs to the URI: every ``period_s`` while trials
    report, whenever a trial ends, and when the search ends."""

    def __init__(self, upload: Callable[[], None], period_s: float = UPLOAD_PERIOD_S) -> None:
        self.upload = upload
        self.period_s = period_s
        self.last = time.monotonic()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if time.monotonic() - self.last >= self.period_s:
            self._upload()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._upload()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._upload()

    def _upload(self) -> None:
        self.upload()
        self.last = time.monotonic()
