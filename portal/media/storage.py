"""Files under the media root (MEDIA_ROOT), named by keys such as "doctors/<id>/3-256.webp".

A file is written to a temporary name in its own directory and then renamed over the key, so
a reader (the /media route, a proxy serving the directory) never sees half a file. No key can
name a file outside the root.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from werkzeug.security import safe_join


class UnsafeKey(ValueError):
    """A key that would leave the media root ("..", an absolute path, a backslash)."""


def path_for(root: str | os.PathLike, key: str) -> Path:
    """The file of `key` under `root`; raises UnsafeKey for a key that would leave it."""
    joined = safe_join(os.fspath(root), key)
    if joined is None:
        raise UnsafeKey(f"not a media key: {key!r}")
    return Path(joined)


def write_files(root: str | os.PathLike, files: Mapping[str, bytes]) -> None:
    """Write each key's bytes, each file atomically (readable by a proxy serving the root)."""
    for key, data in files.items():
        target = path_for(root, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise


def remove_files(root: str | os.PathLike, keys: Iterable[str]) -> None:
    """Delete the files of `keys` (those already gone are fine), then each directory that
    this left empty."""
    directories = set()
    for key in keys:
        path = path_for(root, key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        directories.add(path.parent)
    for directory in directories:
        with contextlib.suppress(OSError):  # not empty, or already gone
            directory.rmdir()
