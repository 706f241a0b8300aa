"""The two CSV files ``python -m study.faces`` leaves in OUT_ROOT, and its printed summary.

* ``faces_report.csv``: one row per video (frames decoded, frames with a face, frames
  written, status: ``ok``, ``no_face``, ``unreadable`` or ``exists``, and a note);
* ``faces_frames.csv``: one row per written frame, with the face box and the square it was
  cut from, in the video's pixel coordinates (to check or redo a crop).

Both are keyed by ``folder``, the video's output folder under OUT_ROOT
(``<Split>/<Emotion>/<video_id>``). A later run into the same OUT_ROOT replaces the rows of
the videos it cropped and keeps the others, so the files describe every folder there.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from study.faces_crop import VideoResult
from study.faces_sources import VideoJob
from trainables.io import atomic_path
from trainables.video_listing import natural_key

REPORT = "faces_report.csv"
FRAMES = "faces_frames.csv"
REPORT_COLUMNS = ("video", "split", "label", "folder", "frames", "frames_with_face", "tracked",
                  "written", "status", "note")
FRAME_COLUMNS = ("folder", "frame", "file", "source", "face_x0", "face_y0", "face_x1",
                 "face_y1", "crop_x0", "crop_y0", "crop_side")
#: Problems the summary names, with how it words them.
PROBLEMS = {"no_face": "no face found", "unreadable": "unreadable",
            "exists": "already in OUT_ROOT, left as they were"}
NAMED = 10  # videos named per problem in the summary; the report lists them all


def folder_of(job: VideoJob, out_root: Path) -> str:
    return job.target.relative_to(out_root).as_posix()


def video_row(job: VideoJob, result: VideoResult, out_root: Path) -> dict[str, object]:
    folder = folder_of(job, out_root)
    return {"video": job.name, "split": folder.split("/")[0], "label": job.label,
            "folder": folder, "frames": result.frames, "frames_with_face": result.with_face,
            "tracked": result.tracked, "written": result.written, "status": result.status,
            "note": result.note}


def frame_rows(job: VideoJob, result: VideoResult, out_root: Path) -> list[dict[str, object]]:
    folder = folder_of(job, out_root)
    return [{"folder": folder, "frame": r.frame, "file": r.file, "source": r.source,
             **dict(zip(FRAME_COLUMNS[4:8], r.face, strict=True)),
             **dict(zip(FRAME_COLUMNS[8:], r.crop, strict=True))} for r in result.records]


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def merge_rows(path: Path, columns: Sequence[str], rows: list[dict], replaced: set[str]) -> None:
    """Write ``rows`` to ``path`` with the rows of an earlier run whose folder is not in
    ``replaced``, sorted by folder (and frame)."""
    kept = [row for row in read_rows(path) if row.get("folder") not in replaced]
    merged = sorted(kept + rows, key=lambda r: (natural_key(str(r.get("folder", ""))),
                                                int(r.get("frame") or 0)))
    with atomic_path(path, ".csv") as temp, temp.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows(merged)


def write_reports(done: Sequence[tuple[VideoJob, VideoResult]], out_root: Path) -> Path:
    """Merge this run's videos into OUT_ROOT's two CSV files; the report's path. A video
    found already there keeps the rows an earlier run wrote for it, if any."""
    report = out_root / REPORT
    earlier = {row.get("folder") for row in read_rows(report)}
    fresh = [(job, result) for job, result in done
             if result.status != "exists" or folder_of(job, out_root) not in earlier]
    replaced = {folder_of(job, out_root) for job, result in fresh}
    merge_rows(report, REPORT_COLUMNS, [video_row(j, r, out_root) for j, r in fresh], replaced)
    frames = [row for job, result in fresh for row in frame_rows(job, result, out_root)]
    merge_rows(out_root / FRAMES, FRAME_COLUMNS, frames, replaced)
    return report


def summary(done: Sequence[tuple[VideoJob, VideoResult]], split_dir: Path,
            report: Path) -> list[str]:
    """The lines printed at the end of a run."""
    ok = [result for _, result in done if result.status == "ok"]
    skipped = sum(result.frames - result.written for result in ok)
    lines = [f"Cropped {len(ok)} of {len(done)} videos into {split_dir}: "
             f"{sum(r.written for r in ok)} frames written, {skipped} frames without a face "
             f"skipped; per video: {report}"]
    for status, words in PROBLEMS.items():
        named = [(job, result) for job, result in done if result.status == status]
        if named:
            lines.append(f"{len(named)} {words}:")
            lines += [f"  {job.name}" + (f" ({result.note})" if status == "unreadable" else "")
                      for job, result in named[:NAMED]]
            if len(named) > NAMED:
                lines.append(f"  ... and {len(named) - NAMED} more (see {report.name})")
    return lines
