"""One way to write a file: to a temp file beside it, renamed into place only once complete.

A killed or failing run therefore never leaves a half-written file that a later run trusts,
and never leaves its temp file behind.

Permissions: the final file gets the mode any normally created file would get (``0o666``
less the process umask, or the folder's default ACL). :func:`tempfile.mkstemp` would make it
``0600``, but the frame and feature caches and the study's files are meant to be shared like
any other file (another user's study may reuse the cache). The temp file is therefore created
with :func:`os.open` and mode ``0o666``, so the kernel applies the umask itself: nothing has
to read the umask, which can only be read by setting it (``os.umask`` twice), a process-wide
change that races with other threads creating files.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Mode asked of ``os.open`` for new files, as ``open()`` asks; the umask is applied to it.
NEW_FILE_MODE = 0o666
_ATTEMPTS = 100


def _create_temp(target: Path, suffix: str) -> Path:
    """A new, empty file beside ``target`` with a name nothing else uses."""
    for _ in range(_ATTEMPTS):
        temp = target.parent / f".{target.name}.{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE))
        except FileExistsError:
            continue
        return temp
    raise FileExistsError(f"no free temp file name beside {target} after {_ATTEMPTS} tries")


@contextmanager
def atomic_path(target: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a new temp path in ``target``'s folder (created, empty); when the block succeeds,
    ``os.replace`` it onto ``target``; when anything fails, remove it and leave ``target`` as
    it was. ``suffix`` ends the temp name (e.g. ``".npy"``, which :func:`numpy.save` expects).

    The block may reopen, truncate or replace the temp path, but should not chmod it: the
    file keeps the mode a normally created file gets (see the module's docstring).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _create_temp(target, suffix)
    try:
        yield temp
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def atomic_write_text(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through :func:`atomic_path`."""
    with atomic_path(target, ".tmp") as temp:
        temp.write_text(text)
