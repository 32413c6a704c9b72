"""Files and folders linkage writes: owner-only (0600 / 0700) for as long as they exist.

Stores, their write-ahead logs, exports, review files, pages and models may hold names and
dates of birth. Two tools keep them private:

- `private_umask()`: umask 077 while a block runs, so whatever is created in it (by Python,
  DuckDB or a JVM started in it) is owner-only. An open store holds it for its lifetime
  (its WAL comes and goes while it is open); the count of holders is process-wide, and the
  caller's own umask is back once the last holder is done.
- `output_file(path)`: the one way to write a file a user named (--out, --html): the path is
  checked first, the file is written beside it and renamed over it (a reader never sees half
  a file), 0600 even when it replaces a file that was readable by others. A path that
  cannot be written is an OutputError naming it, never a traceback.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "new" / "folder" / "page.html"
>>> write_text(out, "<p>hello</p>", "page") == out
True
>>> oct(out.stat().st_mode & 0o777), oct(out.parent.stat().st_mode & 0o777)
('0o600', '0o700')
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from linkage.errors import OutputError

_held = {"count": 0, "previous": None}
_lock = threading.Lock()


def hold_private_umask() -> None:
    """Set umask 077 until the matching `release_private_umask` (calls nest)."""
    with _lock:
        if _held["count"] == 0:
            _held["previous"] = os.umask(0o077)
        _held["count"] += 1


def release_private_umask() -> None:
    with _lock:
        if _held["count"] == 0:
            return
        _held["count"] -= 1
        if _held["count"] == 0:
            os.umask(_held["previous"])


@contextmanager
def private_umask() -> Iterator[None]:
    hold_private_umask()
    try:
        yield
    finally:
        release_private_umask()


def make_private_folder(folder: str | Path) -> Path:
    """Create `folder` and any missing parents, each owner-only (existing ones are left as
    they are: they may be shared folders the user chose). OSError when it cannot be."""
    folder = Path(folder)
    with private_umask():
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def reason(error: OSError) -> str:
    """Why an operating-system call failed, in words (no paths: the caller names one)."""
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        return "a file is where a folder is needed"
    return error.strerror or error.__class__.__name__


@contextmanager
def output_file(path: str | Path, what: str = "file") -> Iterator[Path]:
    """Yield a private scratch path beside `path` (already created, 0600) to write `what`
    into; when the block succeeds it replaces `path`. Any failure leaves `path` as it was."""
    path = Path(path)
    if path.is_dir() or not path.name:
        raise OutputError(f"{path}: is a folder; give a file name for the {what}")
    try:
        make_private_folder(path.parent)
    except OSError as error:
        raise OutputError(f"{path}: cannot create its folder for the {what} "
                          f"({reason(error)})") from None
    scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        os.close(os.open(scratch, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as error:
        raise OutputError(f"{path}: cannot write the {what} ({reason(error)})") from None
    try:
        with private_umask():
            yield scratch
            os.chmod(scratch, 0o600)  # a writer may have replaced the file it was given
            os.replace(scratch, path)
    except OSError as error:
        raise OutputError(f"{path}: cannot write the {what} ({reason(error)})") from None
    finally:
        scratch.unlink(missing_ok=True)


def write_text(path: str | Path, text: str, what: str = "file") -> Path:
    """Write `text` to `path` (UTF-8) through `output_file`; return the path."""
    with output_file(path, what) as scratch:
        scratch.write_text(text, encoding="utf-8")
    return Path(path)
